"""Redis goes away and comes back: the channels' store and rate limiter switch to local mode and back.

Against a private redis-server on a free port that the tests kill and restart (never the machine's
Redis). The Rasa lock store's failover is tested in test_rasa_stores.py (Rasa venv) and end to end in
test_stack_faults.py.
"""
from __future__ import annotations

import logging
import shutil
import time

import pytest

from connectors.kvstore import FailoverStore, RedisStore, SqliteStore, open_store
from connectors.ledger import TurnLedger
from connectors.ratelimit import MemoryRateLimiter, RedisRateLimiter
from tests.faults.infra import PrivateRedis

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")


@pytest.fixture
def private_redis():
    server = PrivateRedis().start()
    yield server
    server.stop()


@pytest.fixture
def failover(private_redis, tmp_path):
    store = FailoverStore(RedisStore(private_redis.url, prefix="t:"), SqliteStore(tmp_path / "local.sqlite3"),
                          retry_after_s=0.3)
    yield store
    store.close()


def test_open_store_fails_over_when_redis_is_configured(tmp_path):
    assert isinstance(open_store("redis://127.0.0.1:1/0", tmp_path), FailoverStore)
    assert isinstance(open_store("", tmp_path), SqliteStore)


def test_outage_local_mode_and_recovery(failover, private_redis, caplog):
    caplog.set_level(logging.WARNING, logger="connectors.kvstore")
    ledger = TurnLedger(failover)
    assert ledger.claim("before", time.time() + 4)[0]
    private_redis.kill()

    started = time.monotonic()
    assert ledger.claim("during", time.time() + 4)[0]            # no exception: local mode
    assert not ledger.claim("during", time.time() + 4)[0]        # and still exactly once
    ledger.finish("during", ["答"])
    assert ledger.claim_delivery("during", "passive") is not None
    assert time.monotonic() - started < 2.0                      # refused connections cost nothing
    assert failover.degraded
    assert [r.message for r in caplog.records].count(
        "redis unreachable: local mode (this machine's SQLite store) until it is back") == 1

    private_redis.start()
    time.sleep(0.4)
    assert ledger.claim("after", time.time() + 4)[0]
    assert not failover.degraded
    assert RedisStore(private_redis.url, prefix="t:").get("after") is not None   # shared again
    # a retry of a message first seen during the outage is still a duplicate after recovery
    assert not ledger.claim("during", time.time() + 4)[0]
    assert ledger.get("during").delivery == "passive"
    assert any("shared mode" in r.message for r in caplog.records)


def test_rate_limiter_keeps_limiting_locally(private_redis):
    limiter = RedisRateLimiter(private_redis.url, per_minute=60, burst=2,
                               fallback=MemoryRateLimiter(60, 2), retry_after_s=0.3)
    assert limiter.check("u", "m1").allowed
    private_redis.kill()
    verdicts = [limiter.check("u", f"m{i}") for i in range(2, 6)]
    assert verdicts[0].allowed and not verdicts[-1].allowed      # local buckets, not "let everything through"
    private_redis.start()
    time.sleep(0.4)
    assert limiter.check("v", "n1").allowed                      # back on Redis
    without_fallback = RedisRateLimiter("redis://127.0.0.1:1/0", per_minute=60, burst=2)
    with pytest.raises(Exception):
        without_fallback.check("u", "x")                          # the channels' own fail-open applies
