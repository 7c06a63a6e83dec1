"""WeCom: kf callback verification, sync with a persisted cursor, service-state rules; agent messages."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from connectors import messages as m
from connectors.config import WeComKfConfig
from connectors.http_api import WeChatApiError
from connectors.kvstore import SqliteStore
from connectors.wecom_agent import AgentConfig, AgentMessenger, send_agent_card
from connectors.wecom_api import KfApi
from connectors.wecom_kf import WeComKfWebhook, plan_for_kf
from tests.fakes.wechat_pusher import WeComCallbackPusher, new_aes_key, sign

from .test_wechat_webhook import DelayedBot, ScriptedBot

CORP, KF_SECRET, AGENT_SECRET, AGENT_ID = "ww0123456789abcdef", "kf-secret", "agent-secret", 1000002
KFID, TOKEN = "wkKF0001", "kf-callback-token"


@pytest.fixture
def corp(platform):
    platform.add_corp(CORP, kf_secret=KF_SECRET, agent_secret=AGENT_SECRET, agent_id=AGENT_ID)
    return platform


def make(platform, store, bot=None, aes_key=None):
    key = aes_key or new_aes_key()
    cfg = WeComKfConfig(corp_id=CORP, kf_secret=KF_SECRET, token=TOKEN, encoding_aes_key=key,
                        open_kfid=KFID, api_base_url=platform.base_url)
    bot = bot or ScriptedBot()
    hook = WeComKfWebhook(cfg, store, bot, KfApi(CORP, KF_SECRET, platform.base_url, store))
    hook.sync_retry_s = (0.05, 0.1, 0.2)
    pusher = WeComCallbackPusher("http://unused", TOKEN, key, CORP)
    return hook, bot, pusher


def callback(hook, pusher, callback_token, **kwargs):
    params, body = pusher.build_kf_event(KFID, callback_token, **kwargs)
    return hook.receive(params, body)


def test_url_verification_decrypts_echostr(corp, sqlite_store):
    hook, _, pusher = make(corp, sqlite_store)
    echostr = pusher.aes.encrypt("8765309", CORP)
    ts, nonce = str(int(time.time())), "42"
    query = {"msg_signature": sign(TOKEN, ts, nonce, echostr), "timestamp": ts, "nonce": nonce, "echostr": echostr}
    assert asyncio.run(hook.verify(query)).body == "8765309"
    # '+' turned into ' ' by a URL decoder must still verify
    assert asyncio.run(hook.verify({**query, "echostr": echostr.replace("+", " ")})).body == "8765309"
    assert asyncio.run(hook.verify({**query, "msg_signature": sign(TOKEN, ts, nonce)})).status == 403
    other = pusher.aes.encrypt("1", "wwOTHERCORP")
    assert asyncio.run(hook.verify({**query, "echostr": other,
                                    "msg_signature": sign(TOKEN, ts, nonce, other)})).status == 403
    stale = str(int(time.time()) - 900)
    assert asyncio.run(hook.verify({**query, "timestamp": stale,
                                    "msg_signature": sign(TOKEN, stale, nonce, echostr)})).status == 403


def test_unconfigured_kf_answers_503(sqlite_store):
    hook = WeComKfWebhook(WeComKfConfig(), None, ScriptedBot())
    assert asyncio.run(hook.verify({})).status == 503
    assert asyncio.run(hook.receive({}, b"<xml/>")).status == 503


def test_customer_messages_reach_the_bot_and_replies_go_out(corp, sqlite_store):
    hook, bot, pusher = make(corp, sqlite_store)
    user = "wmUser" + uuid.uuid4().hex[:6]

    async def scenario():
        token = corp.customer_sends(KFID, user, "等待期多久")
        corp.customer_sends(KFID, user, "", msgtype="image", body={"media_id": "m1"})
        corp.customer_sends(KFID, user, "", msgtype="location",
                            body={"latitude": 20.04, "longitude": 110.32, "name": "美兰机场", "address": "海口市"})
        reply = await callback(hook, pusher, token)
        await hook.drain()
        return reply

    assert asyncio.run(scenario()).body == "success"
    assert [c["text"] for c in bot.calls] == ["等待期多久", '/share_location{"province": "海南"}']
    assert all(c["sender_id"] == user for c in bot.calls)
    assert corp.kf_texts_to(user) == ["回声：等待期多久", m.REPLY_IMAGE, '回声：/share_location{"province": "海南"}']
    # the untreated session was marked as bot-handled
    assert corp.kf_sessions[(KFID, user)].state == 1


def test_cursor_persists_across_restarts_no_loss_no_repeat(corp, tmp_path):
    path = tmp_path / "kf.sqlite3"
    user = "wmUser" + uuid.uuid4().hex[:6]

    async def first_process():
        store = SqliteStore(path)
        hook, bot, pusher = make(corp, store, aes_key=new_aes_key())
        token = corp.customer_sends(KFID, user, "一")
        await callback(hook, pusher, token)
        await hook.drain()
        store.close()
        return bot

    async def second_process():
        store = SqliteStore(path)
        hook, bot, pusher = make(corp, store)
        corp.customer_sends(KFID, user, "二")
        token = corp.customer_sends(KFID, user, "三")
        await callback(hook, pusher, token)
        await callback(hook, pusher, token)       # duplicate callback
        await hook.drain()
        handled_again = await hook.sync(KFID)     # a manual re-sync finds nothing new
        store.close()
        return bot, handled_again

    bot1 = asyncio.run(first_process())
    bot2, again = asyncio.run(second_process())
    assert [c["text"] for c in bot1.calls] == ["一"]
    assert [c["text"] for c in bot2.calls] == ["二", "三"]
    assert again == 0
    assert corp.kf_texts_to(user) == ["回声：一", "回声：二", "回声：三"]


def test_lost_cursor_does_not_repeat_answers(corp, sqlite_store):
    """Even if the cursor write is lost, per-message marks stop a second answer."""
    hook, bot, pusher = make(corp, sqlite_store)
    user = "wmUser" + uuid.uuid4().hex[:6]

    async def scenario():
        await callback(hook, pusher, corp.customer_sends(KFID, user, "你好"))
        await hook.drain()
        sqlite_store.set(f"kf:cursor:{CORP}:{KFID}", "", 60)     # cursor rewound
        await hook.sync(KFID)

    asyncio.run(scenario())
    assert len(bot.calls) == 1 and corp.kf_texts_to(user) == ["回声：你好"]


@pytest.mark.parametrize("state", [2, 3, 4])
def test_bot_is_silent_when_people_handle_the_session(corp, sqlite_store, state):
    hook, bot, pusher = make(corp, sqlite_store)
    user = "wmUser" + uuid.uuid4().hex[:6]

    async def scenario():
        token = corp.customer_sends(KFID, user, "人工在吗")
        corp.set_kf_state(KFID, user, state, servicer="agent01" if state == 3 else "")
        await callback(hook, pusher, token)
        await hook.drain()

    asyncio.run(scenario())
    assert bot.calls == [] and corp.kf_texts_to(user) == []


def test_servicer_messages_and_events(corp, sqlite_store):
    hook, bot, pusher = make(corp, sqlite_store)
    user = "wmUser" + uuid.uuid4().hex[:6]

    async def scenario():
        token, _ = corp.customer_enters(KFID, user)
        corp.servicer_sends(KFID, user, "agent01", "您好，我是客服小王")
        await callback(hook, pusher, token)
        await hook.drain()

    asyncio.run(scenario())
    assert [c["text"] for c in bot.calls] == ["/greet"]
    welcome = [m_ for m_ in corp.kf_sent if m_.get("_on_event")]
    assert len(welcome) == 1 and welcome[0]["text"]["content"] == "回声：/greet"


def test_state_change_mid_answer_stops_sending(corp, sqlite_store):
    hook, _, pusher = make(corp, sqlite_store, bot=ScriptedBot(reply=[{"text": "一"}, {"text": "二"}]))
    user = "wmUser" + uuid.uuid4().hex[:6]
    corp.fail_next("kf/send_msg", 95018)

    async def scenario():
        await callback(hook, pusher, corp.customer_sends(KFID, user, "hi"))
        await hook.drain()

    asyncio.run(scenario())
    assert corp.kf_texts_to(user) == []
    assert corp.count("kf/send_msg") == 1


def test_expired_callback_token_falls_back_to_plain_sync(corp, sqlite_store):
    hook, bot, pusher = make(corp, sqlite_store)
    user = "wmUser" + uuid.uuid4().hex[:6]
    corp.customer_sends(KFID, user, "过期")

    async def scenario():
        await callback(hook, pusher, "ENCexpired")
        await hook.drain()

    asyncio.run(scenario())
    assert [c["text"] for c in bot.calls] == ["过期"]


def test_hostile_callbacks_are_refused(corp, sqlite_store):
    hook, bot, pusher = make(corp, sqlite_store)
    token = corp.customer_sends(KFID, "wmX", "x")

    async def scenario():
        params, body = pusher.build_kf_event(KFID, token)
        forged = await hook.receive({**params, "msg_signature": "0" * 40}, body)
        stale = await callback(hook, pusher, token, timestamp=int(time.time()) - 600)
        other_corp = await callback(hook, pusher, token, receive_id="wwOTHER")
        bomb = await hook.receive(params, b'<!DOCTYPE x [<!ENTITY a "a">]><xml>&a;</xml>')
        big = await hook.receive(params, b"<xml>" + b"a" * 70000 + b"</xml>")
        await hook.drain()
        return forged, stale, other_corp, bomb, big

    assert [r.status for r in asyncio.run(scenario())] == [403, 403, 403, 400, 413]
    assert bot.calls == []


def new_customer() -> str:
    return "wmUser" + uuid.uuid4().hex[:6]


def sent_to(platform, user):
    return [(m_["text"]["content"], m_["_at"]) for m_ in platform.kf_sent if m_.get("touser") == user]


def test_customers_are_answered_concurrently_each_in_order(corp, sqlite_store):
    hook, bot, pusher = make(corp, sqlite_store, bot=DelayedBot({"慢一": 1.0}))
    slow, quick = new_customer(), new_customer()

    async def scenario():
        corp.customer_sends(KFID, slow, "慢一")
        corp.customer_sends(KFID, slow, "慢二")
        await callback(hook, pusher, corp.customer_sends(KFID, quick, "快"))
        await hook.drain()

    asyncio.run(scenario())
    slow_sent, quick_sent = sent_to(corp, slow), sent_to(corp, quick)
    assert [text for text, _ in slow_sent] == ["回声：慢一", "回声：慢二"]
    assert [text for text, _ in quick_sent] == ["回声：快"]
    assert quick_sent[0][1] < slow_sent[0][1]          # not held up behind another customer's slow turn


def test_first_sync_leaves_history_unanswered(corp, sqlite_store):
    """No cursor yet (new deployment, lost store): sync_msg returns 3 days; only recent messages are new."""
    hook, bot, pusher = make(corp, sqlite_store)
    user = new_customer()
    hour_ago = int(time.time()) - 3600

    async def scenario():
        corp.customer_sends(KFID, user, "昨天问过的", send_time=hour_ago)
        await callback(hook, pusher, corp.customer_sends(KFID, user, "刚刚问的"))
        await hook.drain()
        # with a cursor stored, whatever sync_msg returns is new, whatever its send_time
        await callback(hook, pusher, corp.customer_sends(KFID, user, "迟到的消息", send_time=hour_ago))
        await hook.drain()

    asyncio.run(scenario())
    assert [c["text"] for c in bot.calls] == ["刚刚问的", "迟到的消息"]


def test_passing_failures_are_synced_again_without_a_new_callback(corp, sqlite_store):
    hook, bot, pusher = make(corp, sqlite_store)
    user = new_customer()
    corp.fail_next("kf/sync_msg", -1)                    # WeCom busy
    corp.fail_http_next("kf/sync_msg", 503)              # a gateway in between
    corp.fail_next("kf/service_state/get", -1)           # mid-message: left for the next sync

    async def scenario():
        await callback(hook, pusher, corp.customer_sends(KFID, user, "在吗"))
        await hook.drain()

    asyncio.run(scenario())
    assert [c["text"] for c in bot.calls] == ["在吗"]
    assert corp.kf_texts_to(user) == ["回声：在吗"]
    assert corp.count("kf/sync_msg") == 4


def test_refused_sync_waits_for_the_next_callback(corp, sqlite_store):
    hook, bot, pusher = make(corp, sqlite_store)
    user = new_customer()
    corp.fail_next("kf/sync_msg", 40058)                 # a refusal: trying again at once will not help

    async def scenario():
        await callback(hook, pusher, corp.customer_sends(KFID, user, "第一句"))
        await hook.drain()
        calls_after_refusal = corp.count("kf/sync_msg")
        await callback(hook, pusher, corp.customer_sends(KFID, user, "第二句"))
        await hook.drain()
        return calls_after_refusal

    assert asyncio.run(scenario()) == 1
    assert [c["text"] for c in bot.calls] == ["第一句", "第二句"]


def test_sync_busy_on_another_replica_is_tried_again(corp, sqlite_store):
    """The other replica's sync may have read sync_msg before this callback's message arrived."""
    hook, bot, pusher = make(corp, sqlite_store)
    hook.sync_lock_wait_s = 0.1
    user = new_customer()
    assert sqlite_store.add(f"lock:kf:sync:{CORP}:{KFID}", "other-replica", 0.4)

    async def scenario():
        await callback(hook, pusher, corp.customer_sends(KFID, user, "排队"))
        await hook.drain()

    asyncio.run(scenario())
    assert corp.kf_texts_to(user) == ["回声：排队"]


def test_catch_up_answers_what_arrived_while_nobody_listened(corp, sqlite_store):
    hook, bot, pusher = make(corp, sqlite_store)
    user = new_customer()
    corp.customer_sends(KFID, user, "没人回我")          # its callback went to a replica that was down

    async def scenario():
        hook.catch_up()
        await hook.drain()

    asyncio.run(scenario())
    assert corp.kf_texts_to(user) == ["回声：没人回我"]
    unbound = WeComKfWebhook(WeComKfConfig(corp_id=CORP, kf_secret=KF_SECRET, token=TOKEN,
                                           encoding_aes_key=new_aes_key(), api_base_url=corp.base_url),
                             sqlite_store, ScriptedBot(), KfApi(CORP, KF_SECRET, corp.base_url, sqlite_store))

    async def without_account():
        unbound.catch_up()                               # WECOM_OPEN_KFID empty: accounts unknown
        await unbound.drain()

    before = corp.count("kf/sync_msg")
    asyncio.run(without_account())
    assert corp.count("kf/sync_msg") == before


def test_plan_for_kf_types():
    assert plan_for_kf({"msgtype": "text", "text": {"content": "/restart"}}).rasa_text == "／restart"
    assert plan_for_kf({"msgtype": "text", "text": {"content": " "}}).reply == m.REPLY_EMPTY_TEXT
    assert plan_for_kf({"msgtype": "voice", "voice": {"media_id": "x"}}).reply == m.REPLY_VOICE_UNRECOGNISED
    assert plan_for_kf({"msgtype": "weird"}).reply == m.REPLY_UNSUPPORTED
    assert plan_for_kf({"msgtype": "location", "location": {"latitude": "x"}}).reply == m.REPLY_LOCATION_UNKNOWN


# ---- agent (应用消息) ------------------------------------------------------------------------
def agent_config(platform) -> AgentConfig:
    return AgentConfig.from_environ({"WECOM_CORP_ID": CORP, "WECOM_AGENT_SECRET": AGENT_SECRET,
                                     "WECOM_AGENT_ID": str(AGENT_ID), "WECOM_API_BASE_URL": platform.base_url})


def test_agent_card_and_text(corp, sqlite_store):
    messenger = AgentMessenger(agent_config(corp), sqlite_store)
    result = messenger.send_card(["zhangsan", "lisi"], "新的转人工请求", "用户问：" + "理赔进度" * 200,
                                 "https://example.com/handoffs/1")
    assert result.msgid and result.invalid_users == []
    card = corp.agent_messages[0]
    assert card["touser"] == "zhangsan|lisi" and card["agentid"] == AGENT_ID and card["msgtype"] == "textcard"
    assert len(card["textcard"]["description"].encode()) <= 512
    results = messenger.send_text(["zhangsan"], "长消息。" * 400)
    assert len(results) >= 2 and all(len(m_["text"]["content"].encode()) <= 2048
                                     for m_ in corp.agent_messages[1:])
    assert send_agent_card(agent_config(corp), sqlite_store, ["wangwu"], "t", "d", "https://e.x").msgid
    assert corp.count("gettoken") == 1      # one cached token for the app


def test_agent_errors(corp, sqlite_store):
    messenger = AgentMessenger(agent_config(corp), sqlite_store)
    corp.fail_next("message/send", 45009)
    with pytest.raises(WeChatApiError) as err:
        messenger.send_text(["zhangsan"], "hi")
    assert err.value.errcode == 45009
    corp.expire_tokens()
    messenger.send_text(["zhangsan"], "after expiry")       # refreshed once, retried
    with pytest.raises(ValueError):
        messenger.send_text([], "nobody")
    with pytest.raises(ValueError):
        AgentMessenger(AgentConfig(), sqlite_store)
    wrong = AgentConfig(corp_id=CORP, agent_secret=AGENT_SECRET, agent_id=999, api_base_url=corp.base_url)
    with pytest.raises(WeChatApiError) as err:
        AgentMessenger(wrong, sqlite_store).send_text(["zhangsan"], "x")
    assert err.value.errcode == 40056
