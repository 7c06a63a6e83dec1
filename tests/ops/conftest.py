"""Fixtures for the ops console: an app state on a temporary database, users of every role."""
from __future__ import annotations

import pytest

from common.settings import REPO_ROOT, load_settings

EMBEDDING_CACHE = REPO_ROOT / "var" / "cache" / "embeddings.sqlite"
PASSWORD = "correct-horse-battery"


def ops_settings(var_dir, **extra: str):
    return load_settings({"INSUREBOT_VAR_DIR": str(var_dir), "EMBEDDING_CACHE": str(EMBEDDING_CACHE), **extra})


def make_state(settings, encoder=None, index=None):
    """A web AppState on `settings`; with `encoder`, its knowledge service reuses that (loaded) model."""
    from knowledge.service import KnowledgeService
    from knowledge.vocabulary import load_vocabulary
    from web.state import AppState

    state = AppState.create(settings)
    if encoder is not None:
        state.knowledge = KnowledgeService(lambda: encoder, lambda: load_vocabulary(settings.knowledge_dir),
                                           settings.embedding_cache)
    if index is not None:
        state.knowledge._index = index
    return state


def add_users(state) -> dict[str, str]:
    """One user per role; returns {role: session token}."""
    from web.auth import ROLES, create_user, login

    tokens = {}
    for role in ROLES:
        create_user(state.engine, f"{role}1", PASSWORD, role)
        tokens[role] = login(state.engine, f"{role}1", PASSWORD)[0]
    return tokens


@pytest.fixture
def settings(tmp_path):
    return ops_settings(tmp_path)


@pytest.fixture
def state(settings):
    return make_state(settings)


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database on this machine's server (dropped afterwards)."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"ops_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine("postgresql+psycopg2://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - the suite's machines have PostgreSQL
        pytest.skip(f"PostgreSQL not available: {exc}")
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    yield url
    from storage.db import _engines

    engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
