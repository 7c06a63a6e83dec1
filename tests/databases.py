"""This machine's PostgreSQL for tests: a private schema per test, dropped afterwards.

Why a schema each: parallel suites and repeated runs never see each other's rows, and a failed
test leaves nothing behind in the shared `test` database.
"""
from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

# explicit driver: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3 (psycopg2 is installed)
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def pg_available() -> bool:
    try:
        eng = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:
        return False


def pg_schema_engine(prefix: str, create_tables: Callable[[Engine], None], **engine_kwargs: Any) -> Iterator[Engine]:
    """Yield an engine whose search_path is a fresh schema `<prefix>_<random>`; skip if PostgreSQL is away."""
    if not pg_available():
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432")
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"}, **engine_kwargs)
    create_tables(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
