"""Key-value store, ledger and shared token on real SQLite and Redis, under real concurrency."""
from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from connectors.config import WeChatConfig
from connectors.http_api import WeChatApiError
from connectors.kvstore import LockTimeout, SqliteStore, async_locked, locked
from connectors.ledger import TurnLedger
from connectors.wechat_api import OfficialAccountApi

from .conftest import APP_ID, APP_SECRET


def test_store_operations(store):
    assert store.get("k") is None
    assert store.add("k", "v1", 5)
    assert not store.add("k", "v2", 5)
    assert store.get("k") == "v1"
    assert not store.cas("k", "wrong", "v3", 5)
    assert store.cas("k", "v1", "v3", 5) and store.get("k") == "v3"
    assert not store.delete_if("k", "v1")
    assert store.delete_if("k", "v3") and store.get("k") is None
    store.set("short", "x", 0.2)
    time.sleep(0.35)
    assert store.get("short") is None
    assert store.add("short", "again", 5)   # an expired key can be claimed again


def test_add_is_exclusive_under_threads(store):
    with ThreadPoolExecutor(16) as pool:
        wins = list(pool.map(lambda i: store.add("race", str(i), 10), range(64)))
    assert wins.count(True) == 1


def _claim_in_process(path: str, key: str, results) -> None:
    store = SqliteStore(path)
    results.put(store.add(key, "p", 10))
    store.close()


def test_sqlite_add_is_exclusive_across_processes(tmp_path):
    path = str(tmp_path / "shared.sqlite3")
    SqliteStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_claim_in_process, args=(path, "msg-1", results)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    outcomes = [results.get(timeout=5) for _ in procs]
    assert outcomes.count(True) == 1


def test_lock_excludes_and_times_out(store):
    inside = []

    def worker(i):
        with locked(store, "L", ttl_s=5, wait_s=5, poll_s=0.01):
            inside.append(("in", i))
            time.sleep(0.02)
            inside.append(("out", i))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(inside[j][0] == "in" and inside[j + 1] == ("out", inside[j][1]) for j in range(0, 10, 2))
    with locked(store, "held", ttl_s=5, wait_s=1):
        with pytest.raises(LockTimeout):
            with locked(store, "held", ttl_s=5, wait_s=0.2):
                pass


def test_ledger_lifecycle(store):
    ledger = TurnLedger(store)
    owner, rec = ledger.claim("m1", waiting_until=time.time() + 4)
    assert owner and rec.state == "running"
    again, current = ledger.claim("m1", waiting_until=time.time() + 9)
    assert not again and current.state == "running"
    assert ledger.claim_delivery("m1", "passive") is None          # not done yet
    ledger.finish("m1", ["答案"])
    with ThreadPoolExecutor(8) as pool:
        winners = [r for r in pool.map(lambda how: ledger.claim_delivery("m1", how),
                                       ["passive", "custom"] * 8) if r is not None]
    assert len(winners) == 1
    ledger.record_outcome("m1", "sent")
    final = ledger.get("m1")
    assert final.state == "done" and final.texts == ["答案"] and final.outcome == "sent"


def test_index_lists_members_up_to_a_score_oldest_first(store):
    now = time.time()
    store.track("open", "late", now, 60)
    store.track("open", "early", now - 10, 60)
    store.track("other", "elsewhere", now - 10, 60)
    assert store.tracked("open", now - 5) == ["early"]
    assert store.tracked("open", now + 1) == ["early", "late"]
    assert store.tracked("open", now + 1, limit=1) == ["early"]
    store.untrack("open", "early")
    store.untrack("open", "never-tracked")
    assert store.tracked("open", now + 1) == ["late"]
    store.track("open", "stale", now - 120, 60)          # older than its ttl: dropped, never listed
    assert store.tracked("open", now + 1) == ["late"]


def test_ledger_lists_sealed_turns_until_closed(store):
    ledger = TurnLedger(store)
    claimed_at = time.time()
    assert ledger.claim("sealed", claimed_at + 4, "owner-a", sealed="ciphertext")[0]
    assert ledger.claim("plain", claimed_at + 4, "owner-a")[0]        # nothing to recover it from
    assert not ledger.claim("sealed", claimed_at + 9, "owner-b", sealed="other")[0]
    assert ledger.open_turns(claimed_at - 1) == []
    assert ledger.open_turns(time.time() + 1) == ["sealed"]
    assert ledger.get("sealed").sealed == "ciphertext"
    ledger.close_turn("sealed")
    assert ledger.open_turns(time.time() + 1) == []


# ---- shared access token -----------------------------------------------------------------
def _config(platform) -> WeChatConfig:
    return WeChatConfig(token="t", app_id=APP_ID, app_secret=APP_SECRET, api_base_url=platform.base_url)


def test_token_fetched_once_for_many_concurrent_senders(platform, store):
    platform.user_interacted("oA")
    apis = [OfficialAccountApi(_config(platform), store) for _ in range(4)]   # four "replicas"
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: apis[i % 4].send_text("oA", f"消息{i}"), range(16)))
    assert platform.count("stable_token") == 1
    assert len(platform.messages_to("oA")) == 16


@pytest.mark.parametrize("breakage,errcode", [("expire_tokens", 42001), ("revoke_tokens", 40001)])
def test_rejected_token_is_refreshed_once_and_call_retried(platform, store, breakage, errcode):
    platform.user_interacted("oA")
    api = OfficialAccountApi(_config(platform), store)
    api.send_text("oA", "一")
    getattr(platform, breakage)()
    api.send_text("oA", "二")
    assert platform.messages_to("oA") == ["一", "二"]
    assert platform.count("stable_token") == 2
    assert platform.count("message/custom/send") == 3   # one rejected, retried once


def test_persistently_rejected_token_is_not_retried_forever(platform, store):
    platform.user_interacted("oA")
    api = OfficialAccountApi(_config(platform), store)
    platform.fail_next("message/custom/send", 40001, times=5)
    with pytest.raises(WeChatApiError) as err:
        api.send_text("oA", "x")
    assert err.value.errcode == 40001
    assert platform.count("message/custom/send") == 2


@pytest.mark.parametrize("errcode", [45015, 45047])
def test_window_and_quota_errors_surface_without_retry(platform, store, errcode):
    platform.user_interacted("oA")
    api = OfficialAccountApi(_config(platform), store)
    platform.fail_next("message/custom/send", errcode)
    with pytest.raises(WeChatApiError) as err:
        api.send_text("oA", "x")
    assert err.value.errcode == errcode and platform.count("message/custom/send") == 1


def test_real_window_rule_of_the_fake(platform, store):
    api = OfficialAccountApi(_config(platform), store)
    with pytest.raises(WeChatApiError) as err:
        api.send_text("never-wrote", "x")
    assert err.value.errcode == 45015


def test_token_endpoint_timeout_is_bounded(platform, store):
    platform.delay("stable_token", 2.0)
    api = OfficialAccountApi(_config(platform), store, timeout=(0.5, 0.5))
    started = time.monotonic()
    with pytest.raises(WeChatApiError) as err:
        api.send_text("oA", "x")
    assert err.value.errcode == -1 and time.monotonic() - started < 1.9


def test_wrong_secret_is_reported(platform, store):
    cfg = WeChatConfig(token="t", app_id=APP_ID, app_secret="wrong", api_base_url=platform.base_url)
    with pytest.raises(WeChatApiError) as err:
        OfficialAccountApi(cfg, store).send_text("oA", "x")
    assert err.value.errcode == 40125


# ---- locks held for long work -------------------------------------------------------------------
def test_async_lock_kept_alive_while_held(store):
    async def scenario():
        async with async_locked(store, "long-sync", ttl_s=0.3, wait_s=1, keep_alive=True) as lock:
            await asyncio.sleep(1.0)                    # three times the lock's ttl
            taken_meanwhile = store.add("lock:long-sync", "other-replica", 5)
            return taken_meanwhile, lock.lost

    assert asyncio.run(scenario()) == (False, False)
    assert store.add("lock:long-sync", "other-replica", 5)      # released on exit


def test_async_lock_reports_a_lost_lock(store):
    async def scenario():
        async with async_locked(store, "vanishing", ttl_s=0.3, wait_s=1, keep_alive=True) as lock:
            store.delete_if("lock:vanishing", lock.token)          # e.g. the store was flushed
            store.add("lock:vanishing", "other-replica", 5)
            await asyncio.sleep(0.5)
            return lock.lost

    assert asyncio.run(scenario()) is True
    assert store.get("lock:vanishing") == "other-replica"         # exiting never deletes another's lock
