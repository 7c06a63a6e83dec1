"""Per-user rate limiting: the bucket itself, and both channels with the fake platform.

Over the limit nothing reaches the bot, the user hears ONE notice per window, and a retried MsgId
never counts twice. Redis cases need the local server (skipped otherwise).
"""
from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from common.settings import load_settings
from connectors import messages as m
from connectors.config import WeChatConfig, WeComKfConfig
from connectors.ledger import TurnLedger
from connectors.ratelimit import (NOTICE_WINDOW_S, MemoryRateLimiter, RedisRateLimiter, Verdict,
                                  open_limiter)
from connectors.wechat_api import OfficialAccountApi
from connectors.wechat_webhook import WeChatWebhook
from connectors.wecom_api import KfApi
from connectors.wecom_kf import WeComKfWebhook
from tests.fakes.wechat_pusher import WeChatPusher, WeComCallbackPusher, new_aes_key

from .conftest import APP_ID, APP_SECRET, REDIS_URL, _redis_available
from .test_wechat_webhook import ScriptedBot

TOKEN = "hook-token"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _verdicts(limiter, user: str, n: int, start: int = 0) -> list:
    return [limiter.check(user, f"m{i}") for i in range(start, start + n)]


# ---- the bucket ------------------------------------------------------------------------------
def test_memory_bucket_burst_refill_and_one_notice_per_window():
    clock = FakeClock()
    limiter = MemoryRateLimiter(per_minute=6, burst=3, clock=clock)     # one token every 10 s
    first = _verdicts(limiter, "u1", 6)
    assert [v.allowed for v in first] == [True, True, True, False, False, False]
    assert [v.notify for v in first] == [False, False, False, True, False, False]
    assert limiter.check("u2", "other").allowed                          # buckets are per user
    clock.now += 10
    assert limiter.check("u1", "m10").allowed and not limiter.check("u1", "m11").allowed
    clock.now += NOTICE_WINDOW_S - 10 + 1                                # a new window: full bucket again,
    again = _verdicts(limiter, "u1", 4, 20)                              # and a second notice
    assert [(v.allowed, v.notify) for v in again] == [(True, False)] * 3 + [(False, True)]
    clock.now += 1
    assert limiter.check("u1", "m30") == Verdict(False, False)


def test_memory_bucket_remembers_each_message():
    limiter = MemoryRateLimiter(per_minute=60, burst=1, clock=FakeClock())
    assert limiter.check("u", "same").allowed
    for _ in range(5):                                                  # WeChat retries of one MsgId
        assert limiter.check("u", "same").allowed
    assert limiter.check("u", "next") == Verdict(False, True)
    assert limiter.check("u", "next") == Verdict(False, False)          # a retry of it: no second notice


def test_open_limiter_follows_the_settings():
    assert open_limiter(load_settings({"RATE_LIMIT_PER_MINUTE": "0"}), "wechat") is None
    assert isinstance(open_limiter(load_settings({}), "wechat"), MemoryRateLimiter)
    shared = open_limiter(load_settings({"REDIS_URL": REDIS_URL}), "wechat")
    assert isinstance(shared, RedisRateLimiter) and shared.prefix == "insurebot:ratelimit:wechat:"


@pytest.fixture
def redis_limiter():
    if not _redis_available():
        pytest.skip("Redis not reachable at 127.0.0.1:6379")
    limiter = RedisRateLimiter(REDIS_URL, per_minute=6, burst=3, prefix=f"test:{uuid.uuid4().hex}:")
    yield limiter
    for key in limiter._redis.scan_iter(limiter.prefix + "*"):
        limiter._redis.delete(key)
    limiter.close()


def test_redis_bucket_matches_the_memory_one(redis_limiter):
    now = 1_000_000_000
    got = [redis_limiter.check("u1", f"m{i}", now_ms=now) for i in range(6)]
    assert [(v.allowed, v.notify) for v in got] == [(True, False)] * 3 + [(False, True), (False, False), (False, False)]
    assert redis_limiter.check("u1", "m0", now_ms=now).allowed               # retry of an allowed message
    assert redis_limiter.check("u1", "m3", now_ms=now) == Verdict(False, False)
    assert redis_limiter.check("u2", "x", now_ms=now).allowed
    assert redis_limiter.check("u1", "m10", now_ms=now + 10_000).allowed      # refilled one token
    assert not redis_limiter.check("u1", "m11", now_ms=now + 10_000).allowed
    assert redis_limiter.check("u1", "m12", now_ms=now + 61_000).allowed
    keys = [k for k in redis_limiter._redis.scan_iter(redis_limiter.prefix + "*")]
    assert keys and not any("u1" in k.split(":")[-1] for k in keys)          # user ids hashed
    assert all(redis_limiter._redis.pttl(k) > 0 for k in keys)               # everything expires


def test_redis_bucket_is_atomic_under_concurrency(redis_limiter):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        verdicts = list(pool.map(lambda i: redis_limiter.check("racer", f"r{i}"), range(40)))
    assert sum(v.allowed for v in verdicts) == 3          # server clock: no refill within the burst
    assert sum(v.notify for v in verdicts) == 1


# ---- Official Account channel ------------------------------------------------------------------
def _wechat(platform, store, limiter, mode="plain"):
    key = new_aes_key()
    cfg = WeChatConfig(token=TOKEN, app_id=APP_ID, app_secret=APP_SECRET,
                       encoding_aes_key=key if mode != "plain" else "", api_base_url=platform.base_url,
                       passive_deadline_s=1.0)
    bot = ScriptedBot()
    hook = WeChatWebhook(cfg, TurnLedger(store), bot, OfficialAccountApi(cfg, store), limiter=limiter)
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID, aes_key=key if mode != "plain" else None, mode=mode,
                          platform=platform)
    return hook, bot, pusher


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_flood_on_the_official_account(platform, sqlite_store, caplog, mode):
    user = "oFlood_" + uuid.uuid4().hex[:8]
    platform.user_interacted(user)
    hook, bot, pusher = _wechat(platform, sqlite_store, MemoryRateLimiter(per_minute=1, burst=3), mode)

    async def scenario():
        replies = []
        for i in range(8):
            params, body = pusher.build(pusher.text(user, f"第{i}条"))
            replies.append(await hook.receive(params, body))
            if i == 5:      # WeChat retries the 6th message twice: same MsgId, must not count again
                replies.append(await hook.receive(params, body))
                replies.append(await hook.receive(params, body))
        await hook.drain()
        return replies

    with caplog.at_level(logging.WARNING, logger="connectors"):
        replies = asyncio.run(scenario())
    shown = [pusher.decode_reply(r.body) for r in replies]
    texts = [s["Content"] if s else None for s in shown]
    assert [c["text"] for c in bot.calls] == ["第0条", "第1条", "第2条"]         # the rest never reached Rasa
    assert texts[:3] == ["回声：第0条", "回声：第1条", "回声：第2条"]
    assert texts[3] == m.REPLY_RATE_LIMITED                                       # one polite notice ...
    assert texts[4:] == [None] * (len(texts) - 4)                                 # ... then silence ("success")
    assert all(r.status == 200 for r in replies)
    assert platform.messages_to(user) == []
    limited = [r for r in caplog.records if getattr(r, "event", "") == "wechat.rate_limited"]
    assert len(limited) == 5                                                      # retries not counted
    assert all(user not in r.getMessage() and getattr(r, "user", "").startswith("u_") for r in limited)


def test_events_and_other_users_are_unaffected(platform, sqlite_store):
    hook, bot, pusher = _wechat(platform, sqlite_store, MemoryRateLimiter(per_minute=1, burst=1))
    a, b = "oA_" + uuid.uuid4().hex[:6], "oB_" + uuid.uuid4().hex[:6]

    async def scenario():
        out = []
        for fields in (pusher.text(a, "1"), pusher.text(a, "2"), pusher.text(b, "3"),
                       pusher.event(a, "unsubscribe")):
            params, body = pusher.build(fields)
            out.append(await hook.receive(params, body))
        await hook.drain()
        return out

    asyncio.run(scenario())
    # a's second message is limited; b is served; unsubscribe (nothing delivered) still closes a's session
    assert [c["text"] for c in bot.calls] == ["1", "3", "/restart"]


def test_limiter_failure_does_not_drop_messages(platform, sqlite_store):
    class Broken:
        def check(self, user_id, event_id):
            raise ConnectionError("redis down")

    hook, bot, pusher = _wechat(platform, sqlite_store, Broken())
    params, body = pusher.build(pusher.text("oX", "你好"))
    reply = asyncio.run(hook.receive(params, body))
    assert pusher.decode_reply(reply.body)["Content"] == "回声：你好" and len(bot.calls) == 1


# ---- WeCom customer service ----------------------------------------------------------------------
CORP, KF_SECRET, KFID, KF_TOKEN = "ww0123456789abcdef", "kf-secret", "wkKF0001", "kf-callback-token"


def test_flood_on_wecom_kf(platform, sqlite_store):
    platform.add_corp(CORP, kf_secret=KF_SECRET)
    key = new_aes_key()
    cfg = WeComKfConfig(corp_id=CORP, kf_secret=KF_SECRET, token=KF_TOKEN, encoding_aes_key=key,
                        open_kfid=KFID, api_base_url=platform.base_url)
    bot = ScriptedBot()
    hook = WeComKfWebhook(cfg, sqlite_store, bot, KfApi(CORP, KF_SECRET, platform.base_url, sqlite_store),
                          limiter=MemoryRateLimiter(per_minute=1, burst=2))
    pusher = WeComCallbackPusher("http://unused", KF_TOKEN, key, CORP)
    user = "wmFlood" + uuid.uuid4().hex[:6]

    async def scenario():
        token = None
        for i in range(6):
            token = platform.customer_sends(KFID, user, f"问题{i}")
        params, body = pusher.build_kf_event(KFID, token)
        await hook.receive(params, body)
        await hook.drain()
        sqlite_store.set(f"kf:cursor:{CORP}:{KFID}", "", 60)     # a re-sync sees the same msgids again
        await hook.sync(KFID)

    asyncio.run(scenario())
    assert [c["text"] for c in bot.calls] == ["问题0", "问题1"]
    assert platform.kf_texts_to(user) == ["回声：问题0", "回声：问题1", m.REPLY_RATE_LIMITED]

