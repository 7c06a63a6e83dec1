"""Engine factory and the shared MetaData every feature's tables hang off."""
from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import MetaData, create_engine, event, pool
from sqlalchemy.engine import Engine

metadata = MetaData()

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def sqlite_write_ahead(dbapi_conn, _record=None) -> None:
    """Connect hook for a SQLite file several processes share (this app's file, Rasa's tracker file).

    Write-ahead log: a commit is one append (no rollback journal to create, sync and delete: Rasa's
    tracker commits went from ~12% to ~3% of its CPU per turn with WAL and a pool, py-spy) and readers
    never block the writer. synchronous=NORMAL: a commit survives a crash of any process, only a power
    cut can lose the last ones (SQLite's documented WAL trade-off); FULL synced every transcript write,
    60% of the transcript thread's time inside Rasa (py-spy, 10 WeChat users).
    """
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def _sqlite_pragmas(dbapi_conn, record) -> None:  # pragma: no cover - trivial
    sqlite_write_ahead(dbapi_conn, record)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def get_engine(url: str) -> Engine:
    """One engine per URL per process (pools are per process; several processes share the database)."""
    if url.startswith(("postgresql://", "postgres://")):
        # SQLAlchemy 2.1 defaults to psycopg 3; this venv ships psycopg2 (as Rasa does)
        url = "postgresql+psycopg2://" + url.split("://", 1)[1]
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite:///"):
                Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
                # a kept pool: SQLAlchemy 1.4 (the Rasa venv) otherwise reconnects per use (NullPool)
                engine = create_engine(url, poolclass=pool.QueuePool, pool_size=5,
                                       connect_args={"check_same_thread": False, "timeout": 10})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
            _engines[url] = engine
        return engine


def create_all(engine: Engine) -> None:
    """Create every table declared so far (idempotent); import the table modules first."""
    metadata.create_all(engine)
