"""A WeChat turn whose owner died is taken over by the next retry (or, when the owner had already
acknowledged with ``success`` and WeChat will not retry, by the orphan sweep); a live owner keeps its turn.

The webhook with a scripted bot and the real SQLite ledger (no Rasa): the lease rules of
connectors/ledger.py and who delivers. The Rasa side (the tracker check that makes a wrongful
takeover harmless) is tested end to end in test_stack_faults.py.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from typing import Any, Dict, List

import pytest

from connectors.config import WeChatConfig
from connectors.kvstore import SqliteStore
from connectors.ledger import OPEN_TURNS, TurnLedger, TurnRecord
from connectors.messages import parse_inbound, plan_for
from connectors.wechat_api import OfficialAccountApi
from connectors.wechat_webhook import WeChatWebhook
from transcripts.crypto import KeyRing
from tests.fakes.wechat_platform import FakeWeChatPlatform
from tests.fakes.wechat_pusher import WeChatPusher

APP_ID, APP_SECRET, TOKEN = "wxtakeover000001", "takeover-secret", "takeover-token"


class Bot:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: List[str] = []

    async def __call__(self, text: str, sender_id: str, message_id: str, metadata: Dict[str, Any]):
        self.calls.append(message_id)
        await asyncio.sleep(self.delay)
        return [{"text": f"答：{text}"}]


@pytest.fixture
def platform():
    fake = FakeWeChatPlatform().start()
    fake.add_app(APP_ID, APP_SECRET)
    yield fake
    fake.stop()


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "kv.sqlite3")
    yield s
    s.close()


def hook_for(platform, store, bot, *, deadline: float = 1.0, lease_s: float = 0.4) -> WeChatWebhook:
    cfg = WeChatConfig(token=TOKEN, app_id=APP_ID, app_secret=APP_SECRET, api_base_url=platform.base_url,
                       passive_deadline_s=deadline)
    hook = WeChatWebhook(cfg, TurnLedger(store), bot, OfficialAccountApi(cfg, store),
                         keyring=KeyRing.development())
    hook.lease_s = lease_s
    return hook


def user(platform) -> str:
    openid = "oTake_" + uuid.uuid4().hex[:8]
    platform.user_interacted(openid)
    return openid


async def post(hook: WeChatWebhook, pusher: WeChatPusher, fields: Dict[str, Any]):
    return await hook.receive(*pusher.build(fields))


def dead_owner_record(store, key: str, lease_until: float) -> None:
    TurnLedger(store).store.add(key, TurnRecord(waiting_until=time.time() + 4, owner="killed-process",
                                                lease_until=lease_until).dump(), 900)


def test_retry_takes_over_a_turn_whose_owner_died(platform, store):
    bot = Bot()
    hook = hook_for(platform, store, bot)
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID)
    openid = user(platform)
    fields = pusher.text(openid, "等待期多久")
    key = f"wx:{fields['ToUserName']}:m:{fields['MsgId']}"
    dead_owner_record(store, key, lease_until=time.time() - 1)   # claimed, then the process was killed

    async def scenario():
        reply = await post(hook, pusher, fields)
        await hook.drain()
        return reply

    reply = asyncio.run(scenario())
    assert pusher.decode_reply(reply.body)["Content"] == "答：等待期多久"
    assert bot.calls == [key]
    record = TurnLedger(store).get(key)
    assert record.state == "done" and record.owner == hook.instance and record.delivery == "passive"


def test_retry_waiting_on_a_lease_that_runs_out_takes_over_in_time(platform, store):
    """The owner died just before the retry arrived: its lease expires while the retry waits."""
    bot = Bot()
    hook = hook_for(platform, store, bot, deadline=1.5)
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID)
    openid = user(platform)
    fields = pusher.text(openid, "犹豫期")
    key = f"wx:{fields['ToUserName']}:m:{fields['MsgId']}"
    dead_owner_record(store, key, lease_until=time.time() + 0.5)

    async def scenario():
        started = time.monotonic()
        reply = await post(hook, pusher, fields)
        took = time.monotonic() - started
        await hook.drain()
        return reply, took

    reply, took = asyncio.run(scenario())
    assert pusher.decode_reply(reply.body)["Content"] == "答：犹豫期" and 0.4 < took < 1.5
    assert len(bot.calls) == 1


def test_a_live_slow_owner_keeps_its_turn(platform, store):
    """The owner renews its lease while its turn runs: retries on another replica wait, never run it."""
    bot_a, bot_b = Bot(delay=1.5), Bot()
    hook_a = hook_for(platform, store, bot_a, deadline=0.3, lease_s=0.4)
    hook_b = hook_for(platform, store, bot_b, deadline=0.5, lease_s=0.4)
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID, platform=platform)
    openid = user(platform)
    fields = pusher.text(openid, "慢")

    async def scenario():
        first = await post(hook_a, pusher, fields)          # success at 0.3 s, the turn goes on
        retries = [await post(hook_b, pusher, fields) for _ in range(3)]   # 0.3 .. 1.8 s
        await asyncio.gather(hook_a.drain(), hook_b.drain())
        return first, retries

    first, retries = asyncio.run(scenario())
    assert first.body == "success" and all(r.body in ("success",) or "答：慢" in r.body for r in retries)
    assert len(bot_a.calls) == 1 and bot_b.calls == []
    shown = [r for r in retries if r.body != "success"]
    assert len(platform.messages_to(openid)) + len(shown) == 1


def test_an_owner_taken_over_while_stalled_does_not_deliver_twice(platform, store):
    """The owner stalls (no renewals) and is taken over; when its turn finally ends it stays silent."""
    bot_a, bot_b = Bot(delay=1.2), Bot()
    hook_a = hook_for(platform, store, bot_a, deadline=0.2, lease_s=0.3)
    hook_b = hook_for(platform, store, bot_b, deadline=1.0, lease_s=0.3)

    async def stalled(key: str) -> None:          # an owner whose process is frozen renews nothing
        return None

    hook_a._renew_lease = stalled  # type: ignore[method-assign]
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID, platform=platform)
    openid = user(platform)
    fields = pusher.text(openid, "卡住")

    async def scenario():
        first = await post(hook_a, pusher, fields)
        await asyncio.sleep(0.3)
        retry = await post(hook_b, pusher, fields)        # lease expired: B runs it and answers
        await asyncio.gather(hook_a.drain(), hook_b.drain())
        return first, retry

    first, retry = asyncio.run(scenario())
    assert first.body == "success"
    assert pusher.decode_reply(retry.body)["Content"] == "答：卡住"
    assert len(bot_a.calls) == 1 and len(bot_b.calls) == 1     # (Rasa's tracker check replays the 2nd)
    time.sleep(0.3)
    assert platform.messages_to(openid) == []                   # A finished later and stayed silent


def test_records_of_older_versions_are_never_taken_over(platform, store):
    """No lease recorded (a replica still on the previous version): wait as before, never run twice."""
    bot = Bot()
    hook = hook_for(platform, store, bot, deadline=0.4)
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID)
    openid = user(platform)
    fields = pusher.text(openid, "旧版本")
    key = f"wx:{fields['ToUserName']}:m:{fields['MsgId']}"
    store.add(key, TurnRecord(waiting_until=time.time() + 4).dump(), 900)

    async def scenario():
        reply = await post(hook, pusher, fields)
        await hook.drain()
        return reply

    assert asyncio.run(scenario()).body == "success" and bot.calls == []


# ---- orphans: acknowledged with success, then the owner died (WeChat does not retry) ---------------
def orphan_record(store, hook: WeChatWebhook, fields: Dict[str, Any], **changes: Any) -> str:
    """What a process killed after answering ``success`` leaves in the ledger for ``fields``."""
    msg = parse_inbound({k: str(v) for k, v in fields.items()})
    key = msg.dedupe_key
    claimed = time.time() - 10
    record = TurnRecord(waiting_until=claimed + 4, owner="killed-process", lease_until=claimed + 4,
                        sealed=hook._seal(key, msg, plan_for(msg)))
    store.add(key, replace(record, **changes).dump(), 900)
    store.track(OPEN_TURNS, key, claimed, 900)
    return key


def test_sweep_finishes_a_turn_whose_owner_died_after_acknowledging(platform, store):
    bot = Bot()
    hook = hook_for(platform, store, bot)
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID)
    openid = user(platform)
    key = orphan_record(store, hook, pusher.text(openid, "等待期多久"))

    async def scenario():
        first = await hook.recover_orphans()
        await hook.drain()
        return first, await hook.recover_orphans()

    first, second = asyncio.run(scenario())
    assert (first, second) == (1, 0)
    assert bot.calls == [key]
    assert platform.messages_to(openid) == ["答：等待期多久"]
    record = TurnLedger(store).get(key)
    assert record.state == "done" and record.delivery == "custom" and record.outcome == "sent"
    assert TurnLedger(store).open_turns(time.time() + 1) == []


def test_sweep_delivers_an_answer_whose_owner_died_before_sending(platform, store):
    bot = Bot()
    hook = hook_for(platform, store, bot)
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID)
    openid = user(platform)
    key = orphan_record(store, hook, pusher.text(openid, "犹豫期"), state="done", texts=["犹豫期15天"])
    assert asyncio.run(hook.recover_orphans()) == 1
    assert bot.calls == []                                   # the stored answer, not a second turn
    assert platform.messages_to(openid) == ["犹豫期15天"]
    assert asyncio.run(hook.recover_orphans()) == 0
    assert platform.messages_to(openid) == ["犹豫期15天"]


def test_sweeps_of_two_replicas_recover_an_orphan_once(platform, store):
    bot_a, bot_b = Bot(delay=0.2), Bot(delay=0.2)
    hook_a, hook_b = hook_for(platform, store, bot_a), hook_for(platform, store, bot_b)
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID)
    openid = user(platform)
    orphan_record(store, hook_a, pusher.text(openid, "两个副本"))

    async def scenario():
        counts = await asyncio.gather(hook_a.recover_orphans(), hook_b.recover_orphans())
        await asyncio.gather(hook_a.drain(), hook_b.drain())
        return counts

    assert sorted(asyncio.run(scenario())) == [0, 1]
    assert len(bot_a.calls) + len(bot_b.calls) == 1
    assert platform.messages_to(openid) == ["答：两个副本"]


def test_sweep_leaves_a_live_slow_owner_alone(platform, store):
    """Acknowledged with success while the turn goes on: the owner renews its lease, nobody takes over."""
    bot_a, bot_b = Bot(delay=1.5), Bot()
    hook_a = hook_for(platform, store, bot_a, deadline=0.2, lease_s=0.4)
    hook_b = hook_for(platform, store, bot_b, lease_s=0.4)
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID, platform=platform)
    openid = user(platform)
    fields = pusher.text(openid, "慢慢来")

    async def scenario():
        first = await post(hook_a, pusher, fields)
        recovered = 0
        for _ in range(12):                                   # sweeps every 0.1 s while A's turn runs
            recovered += await hook_b.recover_orphans()
            await asyncio.sleep(0.1)
        await hook_a.drain()
        return first, recovered

    first, recovered = asyncio.run(scenario())
    assert first.body == "success" and recovered == 0 and bot_b.calls == []
    assert platform.messages_to(openid) == ["答：慢慢来"]
    assert TurnLedger(store).open_turns(time.time() + 1) == []     # the owner closed its turn


def test_unreadable_sealed_message_is_dropped_not_retried_forever(platform, store):
    bot = Bot()
    hook = hook_for(platform, store, bot)
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID)
    openid = user(platform)
    orphan_record(store, hook, pusher.text(openid, "被篡改"), sealed="sm4gcm1.dev-only.AAAA")
    assert asyncio.run(hook.recover_orphans()) == 0
    assert bot.calls == [] and platform.messages_to(openid) == []
    assert TurnLedger(store).open_turns(time.time() + 1) == []
