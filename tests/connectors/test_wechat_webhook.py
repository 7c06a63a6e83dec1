"""The Official Account webhook logic with a scripted bot, the fake platform and real stores.

WeChatWebhook is framework-free, so these tests call it directly with requests built, signed and
encrypted by the independent pusher; end-to-end tests over HTTP with real Rasa are in
test_wechat_e2e.py.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List

import pytest

from connectors import messages as m
from connectors.config import WeChatConfig
from connectors.kvstore import RedisStore
from connectors.ledger import TurnLedger
from connectors.wechat_api import OfficialAccountApi
from connectors.wechat_webhook import WeChatWebhook
from tests.fakes.wechat_pusher import WeChatPusher, new_aes_key, sign, to_xml

from .conftest import APP_ID, APP_SECRET, REDIS_URL

TOKEN = "hook-token"
OPENID = "oUser_" + uuid.uuid4().hex[:8]


class ScriptedBot:
    """Stands in for Rasa: echoes, optionally slowly, and counts turns."""

    def __init__(self, delay: float = 0.0, reply: Any = None, fail: bool = False) -> None:
        self.delay, self.reply, self.fail = delay, reply, fail
        self.calls: List[Dict[str, Any]] = []

    async def __call__(self, text: str, sender_id: str, message_id: str, metadata: Dict[str, Any]):
        self.calls.append({"text": text, "sender_id": sender_id, "message_id": message_id, "metadata": metadata})
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("bot exploded")
        if self.reply is not None:
            return self.reply
        return [{"text": f"回声：{text}"}]


class DelayedBot(ScriptedBot):
    """A ScriptedBot whose turn for some texts takes longer (``delays``: text -> seconds)."""

    def __init__(self, delays: Dict[str, float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delays = delays

    async def __call__(self, text: str, sender_id: str, message_id: str, metadata: Dict[str, Any]):
        await asyncio.sleep(self.delays.get(text, 0.0))
        return await super().__call__(text, sender_id, message_id, metadata)


def setup(platform, store, *, mode="plain", bot=None, deadline=1.0, aes_key=None):
    key = aes_key or new_aes_key()
    cfg = WeChatConfig(token=TOKEN, app_id=APP_ID, app_secret=APP_SECRET,
                       encoding_aes_key=key if mode != "plain" else "",
                       api_base_url=platform.base_url, passive_deadline_s=deadline)
    bot = bot or ScriptedBot()
    hook = WeChatWebhook(cfg, TurnLedger(store), bot, OfficialAccountApi(cfg, store))
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID, aes_key=key if mode != "plain" else None,
                          mode=mode, platform=platform)
    platform.user_interacted(OPENID)
    return hook, bot, pusher


async def post(hook, pusher, fields, **kwargs):
    params, body = pusher.build(fields, **kwargs)
    return await hook.receive(params, body)


# ---- URL verification ----------------------------------------------------------------------
def test_url_verification(platform, sqlite_store):
    hook, _, _ = setup(platform, sqlite_store)
    ts, nonce = str(int(time.time())), "123"
    good = {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "e-123"}
    assert asyncio.run(hook.verify(good)).body == "e-123"
    assert asyncio.run(hook.verify({**good, "signature": sign("x", ts, nonce)})).status == 403
    old = str(int(time.time()) - 600)
    assert asyncio.run(hook.verify({**good, "timestamp": old, "signature": sign(TOKEN, old, nonce)})).status == 403
    assert asyncio.run(hook.verify({k: v for k, v in good.items() if k != "echostr"})).status == 400


def test_unconfigured_channel_answers_503(sqlite_store):
    hook = WeChatWebhook(WeChatConfig(), TurnLedger(sqlite_store), ScriptedBot())
    assert asyncio.run(hook.verify({})).status == 503
    assert asyncio.run(hook.receive({}, b"<xml/>")).status == 503
    bad_key = WeChatWebhook(WeChatConfig(token="t", app_id="a", encoding_aes_key="short"),
                            TurnLedger(sqlite_store), ScriptedBot())
    assert asyncio.run(bad_key.receive({}, b"<xml/>")).status == 503


# ---- the three modes -----------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
def test_text_round_trip_in_every_mode(platform, sqlite_store, mode):
    hook, bot, pusher = setup(platform, sqlite_store, mode=mode)

    async def scenario():
        reply = await post(hook, pusher, pusher.text(OPENID, "等待期多久"))
        await hook.drain()
        return reply

    reply = asyncio.run(scenario())
    assert reply.status == 200
    shown = pusher.decode_reply(reply.body)       # verifies MsgSignature + AppId in safe mode
    assert shown["Content"] == "回声：等待期多久"
    assert shown["ToUserName"] == OPENID and shown["FromUserName"] == pusher.account
    assert shown["MsgType"] == "text"
    assert bot.calls[0]["sender_id"] == OPENID
    assert (reply.body.startswith("<xml><Encrypt>")) == (mode != "plain")
    assert platform.messages_to(OPENID) == []


# ---- bad input -----------------------------------------------------------------------------
def test_forged_and_stale_requests_are_refused(platform, sqlite_store):
    hook, bot, pusher = setup(platform, sqlite_store)

    async def scenario():
        fields = pusher.text(OPENID, "hi")
        params, body = pusher.build(fields)
        forged = await hook.receive({**params, "signature": "0" * 40}, body)
        missing = await hook.receive({k: v for k, v in params.items() if k != "signature"}, body)
        stale = await post(hook, pusher, fields, timestamp=int(time.time()) - 301)
        future = await post(hook, pusher, fields, timestamp=int(time.time()) + 3600)
        wrong_openid = await hook.receive({**params, "openid": "oSomeoneElse"}, body)
        return forged, missing, stale, future, wrong_openid

    results = asyncio.run(scenario())
    assert [r.status for r in results] == [403, 403, 403, 403, 403]
    assert bot.calls == []


def test_safe_mode_checks(platform, sqlite_store):
    key = new_aes_key()
    hook, bot, pusher = setup(platform, sqlite_store, mode="safe", aes_key=key)
    plain_pusher = WeChatPusher("http://unused", TOKEN, APP_ID)

    async def scenario():
        fields = pusher.text(OPENID, "hi")
        other_app = await post(hook, pusher, fields, receive_id="wxANOTHERAPP")
        unencrypted = await post(hook, plain_pusher, fields)
        params, body = pusher.build(fields)
        bad_msg_sig = await hook.receive({**params, "msg_signature": params["signature"]}, body)
        bad_origin = await hook.receive({**params, "signature": "f" * 40}, body)
        foreign_key = WeChatPusher("http://unused", TOKEN, APP_ID, aes_key=new_aes_key(), mode="safe")
        wrong_key = await post(hook, foreign_key, fields)
        no_encrypt = await hook.receive(params, to_xml({"ToUserName": "gh"}).encode())
        garbage = pusher.build(fields, body_override=to_xml({"Encrypt": "!!notbase64"}).encode())
        garbage_params = {**garbage[0], "msg_signature": sign(TOKEN, garbage[0]["timestamp"],
                                                              garbage[0]["nonce"], "!!notbase64")}
        bad_cipher = await hook.receive(garbage_params, garbage[1])
        return other_app, unencrypted, bad_msg_sig, bad_origin, wrong_key, no_encrypt, bad_cipher

    statuses = [r.status for r in asyncio.run(scenario())]
    assert statuses == [403, 403, 403, 403, 403, 400, 403]
    assert bot.calls == []


BOMB = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><xml><ToUserName>gh</ToUserName>'
        b'<Content>&lol3;</Content></xml>')
XXE = (b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<xml><Content>&x;</Content></xml>')


@pytest.mark.parametrize("mode", ["plain", "safe"])
@pytest.mark.parametrize("body,status", [(BOMB, 400), (XXE, 400), (b"<xml><Content>", 400),
                                         (b"\x00\x01garbage", 400), (b"", 400),
                                         (b"<xml>" + b"A" * 70000 + b"</xml>", 413),
                                         (b"<xml><MsgType>text</MsgType></xml>", 400)])
def test_hostile_bodies(platform, sqlite_store, mode, body, status):
    hook, bot, pusher = setup(platform, sqlite_store, mode=mode)

    async def scenario():
        if mode == "plain":
            params, _ = pusher.build(pusher.text(OPENID, "x"))
            return await hook.receive(params, body)
        # in safe mode the hostile XML is the decrypted payload, properly signed
        assert pusher.aes is not None
        encrypted = pusher.aes.encrypt(body.decode("latin-1"), APP_ID)
        params, envelope = pusher.build(pusher.text(OPENID, "x"),
                                        body_override=to_xml({"Encrypt": encrypted}).encode())
        params["msg_signature"] = sign(TOKEN, params["timestamp"], params["nonce"], encrypted)
        return await hook.receive(params, envelope)

    reply = asyncio.run(scenario())
    expected = status
    if mode == "safe" and len(body) > 48000:
        expected = 413   # the encrypted envelope is larger still
    assert reply.status == expected
    assert bot.calls == []


@pytest.mark.parametrize("fields_fn,expected", [
    (lambda p: {**p.text(OPENID, ""), "Content": ""}, m.REPLY_EMPTY_TEXT),
    (lambda p: {**p._base(OPENID, "hologram"), "MsgId": 99}, m.REPLY_UNSUPPORTED),
    (lambda p: p.image(OPENID), m.REPLY_IMAGE),
    (lambda p: p.voice(OPENID, None), m.REPLY_VOICE_UNRECOGNISED),
    (lambda p: p.link(OPENID), m.REPLY_LINK),
    (lambda p: p.event(OPENID, "CLICK", "MENU_UNKNOWN"), m.REPLY_MENU_UNKNOWN),
])
def test_direct_replies_without_a_turn(platform, sqlite_store, fields_fn, expected):
    hook, bot, pusher = setup(platform, sqlite_store, mode="safe")

    async def scenario():
        reply = await post(hook, pusher, fields_fn(pusher))
        await hook.drain()
        return reply

    assert pusher.decode_reply(asyncio.run(scenario()).body)["Content"] == expected
    assert bot.calls == []


@pytest.mark.parametrize("fields_fn,bot_text", [
    (lambda p: p.voice(OPENID, "怎么申请理赔"), "怎么申请理赔"),
    (lambda p: p.location(OPENID, 24.48, 118.09, "厦门市思明区"), '/share_location{"province": "福建"}'),
    (lambda p: p.location(OPENID, 30.27, 120.15, ""), '/share_location{"province": "浙江"}'),
    (lambda p: p.event(OPENID, "subscribe"), "/greet"),
    (lambda p: p.event(OPENID, "CLICK", "MENU_QUOTE"), "/ask_quote"),
    (lambda p: p.event(OPENID, "CLICK", "MENU_HUMAN"), "/request_human"),
    (lambda p: p.event(OPENID, "CLICK", "MENU_CLAIM"), "怎么申请理赔"),
])
def test_turns_for_voice_location_and_events(platform, sqlite_store, fields_fn, bot_text):
    hook, bot, pusher = setup(platform, sqlite_store)

    async def scenario():
        reply = await post(hook, pusher, fields_fn(pusher))
        await hook.drain()
        return reply

    assert pusher.decode_reply(asyncio.run(scenario()).body)["Content"] == f"回声：{bot_text}"
    assert [c["text"] for c in bot.calls] == [bot_text]


def test_unsubscribe_and_silent_events(platform, sqlite_store):
    hook, bot, pusher = setup(platform, sqlite_store)

    async def scenario():
        replies = [await post(hook, pusher, pusher.event(OPENID, ev)) for ev in ("unsubscribe", "VIEW", "LOCATION")]
        await hook.drain()
        return replies

    assert [r.body for r in asyncio.run(scenario())] == ["success"] * 3
    assert [c["text"] for c in bot.calls] == ["/restart"]
    assert platform.messages_to(OPENID) == []


def test_bot_failure_gets_an_apology(platform, sqlite_store):
    hook, _, pusher = setup(platform, sqlite_store, bot=ScriptedBot(fail=True))

    async def scenario():
        reply = await post(hook, pusher, pusher.text(OPENID, "hi"))
        await hook.drain()
        return reply

    assert pusher.decode_reply(asyncio.run(scenario()).body)["Content"] == m.REPLY_ERROR


# ---- exactly once, slow turns, long answers --------------------------------------------------
def test_replay_and_retries_run_one_turn(platform, sqlite_store):
    hook, bot, pusher = setup(platform, sqlite_store, mode="safe", bot=ScriptedBot(delay=0.3))

    async def scenario():
        fields = pusher.text(OPENID, "同一条消息")
        attempts = await asyncio.gather(*(post(hook, pusher, fields) for _ in range(3)))
        replay = await post(hook, pusher, fields)       # later, fresh signature, same MsgId
        await hook.drain()
        return attempts, replay

    attempts, replay = asyncio.run(scenario())
    assert len(bot.calls) == 1
    shown = {pusher.decode_reply(r.body)["Content"] for r in attempts + [replay]}
    assert shown == {"回声：同一条消息"}
    assert platform.messages_to(OPENID) == []


def test_plain_mode_signature_cannot_carry_another_message(platform, sqlite_store):
    """Plain mode signs token/timestamp/nonce only: a captured URL with a forged body is refused."""
    hook, bot, pusher = setup(platform, sqlite_store, mode="plain")

    async def scenario():
        genuine = pusher.text(OPENID, "真的消息")
        params, body = pusher.build(genuine)
        first = await hook.receive(params, body)
        retry = await hook.receive(params, body)                  # WeChat resending the same push
        # the same URL (openid included) with a forged message in that user's name: another MsgId
        _, forged_body = pusher.build(pusher.text(OPENID, "假的消息"))
        forged = await hook.receive(params, forged_body)
        await hook.drain()
        return first, retry, forged

    first, retry, forged = asyncio.run(scenario())
    assert pusher.decode_reply(first.body)["Content"] == "回声：真的消息"
    assert pusher.decode_reply(retry.body)["Content"] == "回声：真的消息"
    assert forged.status == 403
    assert [c["text"] for c in bot.calls] == ["真的消息"]


def test_slow_turn_goes_out_once_through_customer_service(platform, sqlite_store):
    hook, bot, pusher = setup(platform, sqlite_store, bot=ScriptedBot(delay=0.8), deadline=0.3)

    async def scenario():
        fields = pusher.text(OPENID, "慢问题")
        started = time.monotonic()
        first = await post(hook, pusher, fields)
        first_elapsed = time.monotonic() - started
        retry = await post(hook, pusher, fields)      # WeChat retry while the turn is still running
        await hook.drain()
        late_retry = await post(hook, pusher, fields)  # after delivery via the API
        return first, first_elapsed, retry, late_retry

    first, elapsed, retry, late = asyncio.run(scenario())
    assert first.body == "success" and elapsed < 0.6
    assert retry.body == "success" and late.body == "success"
    assert len(bot.calls) == 1
    assert platform.messages_to(OPENID) == ["回声：慢问题"]
    assert platform.typing_events and platform.typing_events[0]["command"] == "Typing"


def test_slow_answer_survives_a_busy_customer_service_api(platform, sqlite_store):
    """errcode -1 (system busy) and a 503 from a gateway sent nothing: the answer goes out once, later."""
    hook, bot, pusher = setup(platform, sqlite_store, bot=ScriptedBot(delay=0.5), deadline=0.2)
    platform.fail_next("message/custom/send", -1)
    platform.fail_http_next("message/custom/send", 503)

    async def scenario():
        first = await post(hook, pusher, pusher.text(OPENID, "忙不忙"))
        await hook.drain()
        return first

    assert asyncio.run(scenario()).body == "success"
    assert platform.messages_to(OPENID) == ["回声：忙不忙"]
    assert platform.count("message/custom/send") == 3
    assert len(bot.calls) == 1


def test_slow_customer_service_api_does_not_hold_up_passive_replies(platform, sqlite_store):
    """Sends blocked on a slow WeChat API must not take the threads new messages need for the ledger."""
    hook, _, pusher = setup(platform, sqlite_store, bot=DelayedBot({"慢": 0.4}), deadline=0.2)
    platform.delay("message/custom/send", 2.0)
    platform.delay("message/custom/typing", 2.0)

    async def scenario():
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=2))   # a small machine's
        slow = await asyncio.gather(*(post(hook, pusher, pusher.text(f"oSlowApi{i:022d}", "慢")) for i in range(4)))
        await asyncio.sleep(0.4)          # the slow turns are done: their answers now wait on the API
        started = time.monotonic()
        fast = await post(hook, pusher, pusher.text(OPENID, "快"))
        elapsed = time.monotonic() - started
        await hook.drain()
        return slow, fast, elapsed

    slow, fast, elapsed = asyncio.run(scenario())
    assert all(reply.body == "success" for reply in slow)
    assert pusher.decode_reply(fast.body)["Content"] == "回声：快" and elapsed < 0.5


class SlowDoneReadLedger(TurnLedger):
    """Reading a finished turn takes 0.4 s: the waiting attempt learns of an answer that was ready in
    time only after its deadline (what a busy event loop does to it under load)."""

    def get(self, key):
        record = super().get(key)
        if record is not None and record.state == "done":
            time.sleep(0.4)
        return record

    def claim_delivery(self, key, how):
        if how == "custom":
            time.sleep(0.3)    # the API fallback claims last: only the waiting attempt's choice decides
        return super().claim_delivery(key, how)


def test_answer_ready_in_time_but_seen_late_goes_through_customer_service(platform, sqlite_store):
    """A passive reply written after the deadline would arrive after WeChat's 5 s: lost for the user."""
    hook, bot, pusher = setup(platform, sqlite_store, bot=ScriptedBot(delay=0.1), deadline=0.3)
    hook.ledger = SlowDoneReadLedger(sqlite_store)

    async def scenario():
        started = time.monotonic()
        reply = await post(hook, pusher, pusher.text(OPENID, "忙的时候"))
        elapsed = time.monotonic() - started
        await hook.drain()
        return reply, elapsed

    reply, elapsed = asyncio.run(scenario())
    assert elapsed > 0.3                       # the webhook really answered after its deadline
    assert reply.body == "success"
    assert platform.messages_to(OPENID) == ["回声：忙的时候"]
    assert len(bot.calls) == 1


def test_retry_waiting_while_the_turn_finishes_gets_the_passive_reply(platform, sqlite_store):
    hook, bot, pusher = setup(platform, sqlite_store, bot=ScriptedBot(delay=0.5), deadline=0.3)

    async def scenario():
        fields = pusher.text(OPENID, "重试")
        first_task = asyncio.ensure_future(post(hook, pusher, fields))
        await asyncio.sleep(0.25)
        retry = await post(hook, pusher, fields)     # waits until 0.55 s; the turn ends at 0.5 s
        first = await first_task
        await hook.drain()
        return first, retry

    first, retry = asyncio.run(scenario())
    assert first.body == "success"
    assert pusher.decode_reply(retry.body)["Content"] == "回声：重试"
    assert len(bot.calls) == 1 and platform.messages_to(OPENID) == []


def test_long_answer_is_split_into_customer_service_messages(platform, sqlite_store):
    long_text = "第一段说明。" * 250 + "\n" + "第二段说明。" * 250
    hook, _, pusher = setup(platform, sqlite_store, bot=ScriptedBot(reply=[{"text": long_text}]))

    async def scenario():
        reply = await post(hook, pusher, pusher.text(OPENID, "详细说说"))
        await hook.drain()
        return reply

    assert asyncio.run(scenario()).body == "success"
    sent = platform.messages_to(OPENID)
    assert len(sent) >= 3 and "".join(sent).replace("\n", "") == long_text.replace("\n", "")
    assert all(len(s.encode()) <= 2048 for s in sent)


@pytest.mark.parametrize("errcode", [45015, 45047])
def test_window_errors_are_recorded_not_retried(platform, sqlite_store, errcode):
    hook, _, pusher = setup(platform, sqlite_store, bot=ScriptedBot(delay=0.5), deadline=0.1)
    platform.fail_next("message/custom/send", errcode)

    async def scenario():
        fields = pusher.text(OPENID, "窗口")
        reply = await post(hook, pusher, fields)
        await hook.drain()
        return reply, fields

    reply, fields = asyncio.run(scenario())
    assert reply.body == "success"
    assert platform.count("message/custom/send") == 1
    record = hook.ledger.get(f"wx:{pusher.account}:m:{fields['MsgId']}")
    assert record.outcome == f"failed:{errcode}" and record.delivery == "custom"


def test_two_replicas_sharing_redis_run_one_turn(platform):
    try:
        store_a = RedisStore(REDIS_URL, prefix=f"test:{uuid.uuid4().hex}:")
        store_a.get("ping")
    except Exception:
        pytest.skip("Redis not reachable")
    prefix = store_a._prefix
    store_b = RedisStore(REDIS_URL, prefix=prefix)
    bot_a, bot_b = ScriptedBot(delay=0.4), ScriptedBot(delay=0.4)
    hook_a, _, pusher = setup(platform, store_a, bot=bot_a, deadline=1.0)
    hook_b, _, _ = setup(platform, store_b, bot=bot_b, deadline=1.0)

    async def scenario():
        results = []
        for i in range(5):
            fields = pusher.text(OPENID, f"副本{i}")
            results.append(await asyncio.gather(post(hook_a, pusher, fields), post(hook_b, pusher, fields)))
        await asyncio.gather(hook_a.drain(), hook_b.drain())
        return results

    results = asyncio.run(scenario())
    assert len(bot_a.calls) + len(bot_b.calls) == 5
    for i, pair in enumerate(results):
        texts = {pusher.decode_reply(r.body)["Content"] for r in pair if r.body != "success"}
        assert texts == {f"回声：副本{i}"}
    assert platform.messages_to(OPENID) == []
    store_a.close()
    store_b.close()


class BrokenStore:
    """A store whose backend is down (e.g. Redis unreachable)."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise ConnectionError("store down")
        return fail


def test_store_outage_degrades_to_best_effort_answers(platform, sqlite_store):
    hook, bot, pusher = setup(platform, sqlite_store)
    hook.ledger = TurnLedger(BrokenStore())

    async def scenario():
        reply = await post(hook, pusher, pusher.text(OPENID, "还在吗"))
        await hook.drain()
        return reply

    assert pusher.decode_reply(asyncio.run(scenario()).body)["Content"] == "回声：还在吗"
    assert len(bot.calls) == 1
