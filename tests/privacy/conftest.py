"""Fixtures for the privacy tests: the app database and a Rasa-like tracker store, on SQLite and on
this machine's PostgreSQL (a private schema per test, dropped afterwards), and SM4 key rings."""
from __future__ import annotations

from typing import Iterator, NamedTuple

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

import handoff.store  # noqa: F401  (declares the tables on the shared metadata)
import ops.tables  # noqa: F401
import quotes.audit  # noqa: F401
import transcripts.tables  # noqa: F401
import web.auth  # noqa: F401
from storage.db import get_engine, metadata
from tests.databases import pg_schema_engine
from transcripts.crypto import KeyRing
from transcripts.tracker_events import tracker_metadata

K1 = "k1:00112233445566778899aabbccddeeff"
K2 = "k2:0f1e2d3c4b5a69788796a5b4c3d2e1f0"


class Dbs(NamedTuple):
    app: Engine
    tracker: Engine
    kind: str


def sqlite_dbs(tmp_path) -> Dbs:
    app = get_engine(f"sqlite:///{tmp_path / 'app.db'}")
    metadata.create_all(app)
    tracker = create_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    tracker_metadata.create_all(tracker)
    return Dbs(app, tracker, "sqlite")


def _app_and_tracker_tables(engine: Engine) -> None:
    metadata.create_all(engine)
    tracker_metadata.create_all(engine)  # app DB and tracker store share the database, as in production


def pg_dbs() -> Iterator[Dbs]:
    engines = pg_schema_engine("privacy", _app_and_tracker_tables)
    engine = next(engines)
    try:
        yield Dbs(engine, engine, "postgresql")
    finally:
        engines.close()  # drops the schema


@pytest.fixture(params=["sqlite", "postgresql"])
def dbs(request, tmp_path) -> Iterator[Dbs]:
    if request.param == "sqlite":
        yield sqlite_dbs(tmp_path)
    else:
        yield from pg_dbs()


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.from_value(K1)


@pytest.fixture(autouse=True)
def _no_real_var(monkeypatch, tmp_path):
    """Code that reads settings from the environment writes under this test's tmp dir, never ./var."""
    monkeypatch.setenv("INSUREBOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("TRANSCRIPT_KEYS", raising=False)
    monkeypatch.setenv("INSUREBOT_ENV", "development")
