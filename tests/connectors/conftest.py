"""Fixtures for the connector tests: the fake WeChat platform and real stores (SQLite, Redis)."""
from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from connectors.kvstore import RedisStore, SqliteStore
from tests.fakes.wechat_platform import FakeWeChatPlatform

REDIS_URL = "redis://127.0.0.1:6379/0"
APP_ID, APP_SECRET = "wx1234567890abcdef", "test-secret-0123456789"


@pytest.fixture
def platform() -> Iterator[FakeWeChatPlatform]:
    fake = FakeWeChatPlatform().start()
    fake.add_app(APP_ID, APP_SECRET)
    yield fake
    fake.stop()


@pytest.fixture
def sqlite_store(tmp_path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "kv.sqlite3")
    yield store
    store.close()


def _redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture
def redis_store() -> Iterator[RedisStore]:
    if not _redis_available():
        pytest.skip("Redis not reachable at 127.0.0.1:6379")
    store = RedisStore(REDIS_URL, prefix=f"test:{uuid.uuid4().hex}:")
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    """Each store-level test runs on both backends."""
    if request.param == "sqlite":
        s = SqliteStore(tmp_path / "kv.sqlite3")
    else:
        if not _redis_available():
            pytest.skip("Redis not reachable at 127.0.0.1:6379")
        s = RedisStore(REDIS_URL, prefix=f"test:{uuid.uuid4().hex}:")
    yield s
    s.close()
