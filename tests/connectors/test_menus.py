"""Menu messages (菜单消息): parsing taps, building the bodies, delivery decisions, fallback to text.

The Official Account webhook and the 微信客服 webhook run with a scripted bot against the fake platform
(which speaks the real protocol: msgmenu bodies checked, 40200 for an unverified account) and a real
SQLite store. The Rasa side (the collector keeping a menu message whole, where the UserMessage metadata
ends up for a custom action) runs in the Rasa venv, and its tracker state is read with the action
server's rasa_sdk here.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from dataclasses import asdict

import pytest

from common.settings import REPO_ROOT, load_settings
from common.stack import RASA_PYTHON
from connectors import messages as m
from connectors.config import WeChatConfig, WeComKfConfig
from connectors.http_api import WeChatApiError
from connectors.ledger import TurnLedger, TurnRecord
from connectors.menus import Menu, clean_menu_id, oa_menu_id, parse_menu
from connectors.messages import parse_inbound, plan_for
from connectors.outbound import send_in_order
from connectors.replies import (MenuPart, Reply, delivery_plan, menus_for_ledger, parts_with_menus,
                                replies_from_bot, replies_from_ledger, reply_plan, texts_from_bot)
from connectors.wechat_api import OfficialAccountApi
from connectors.wechat_webhook import WeChatWebhook
from connectors.wecom_api import KfApi
from connectors.wecom_kf import WeComKfWebhook, plan_for_kf
from connectors.wxxml import parse_xml
from tests.fakes.wechat_pusher import WeChatPusher, WeComCallbackPusher, new_aes_key, to_xml

from .conftest import APP_ID, APP_SECRET
from .test_wechat_webhook import BrokenStore, ScriptedBot, post

TOKEN = "menu-token"
HEAD, TAIL = "您是想问：", "都不是的话，换个说法问我～"
ITEMS = [{"id": "faq.claim.process", "content": "怎么申请理赔？"},
         {"id": "clause.medical_million.claims", "content": "《百万医疗险条款》第十条 保险金申请"}]
MSGMENU = {"head_content": HEAD, "list": ITEMS, "tail_content": TAIL}
NUMBERED = ("您是想问：\n1. 怎么申请理赔？\n2. 《百万医疗险条款》第十条 保险金申请\n"
            "回复数字即可；都不是的话，换个说法问我～")
CLARIFY = {"text": NUMBERED, "custom": {"msgmenu": MSGMENU}}       # the action's one message, kept whole


def new_openid() -> str:
    return "oMenu_" + uuid.uuid4().hex[:12]


# ---- the menu model and the two platforms' bodies ---------------------------------------------------
def test_parse_menu_and_both_bodies():
    menu = parse_menu(MSGMENU)
    assert menu == Menu(HEAD, (("faq.claim.process", "怎么申请理赔？"),
                               ("clause.medical_million.claims", "《百万医疗险条款》第十条 保险金申请")), TAIL)
    assert menu.oa_body() == MSGMENU      # Official Account: {head_content, list: [{id, content}], tail_content}
    assert menu.kf_body() == {
        "head_content": HEAD,
        "list": [{"type": "click", "click": {"id": "faq.claim.process", "content": "怎么申请理赔？"}},
                 {"type": "click", "click": {"id": "clause.medical_million.claims",
                                             "content": "《百万医疗险条款》第十条 保险金申请"}}],
        "tail_content": TAIL}
    assert menu.as_text() == "您是想问：\n1. 怎么申请理赔？\n2. 《百万医疗险条款》第十条 保险金申请\n" + TAIL
    assert parse_menu(menu.kf_body()) == menu                  # the kf shape is understood too
    assert parse_menu(menu.to_json()) == menu                  # ledger round trip


@pytest.mark.parametrize("value", [None, "x", {}, {"list": []}, {"list": "abc"},
                                   {"list": [{"id": "", "content": "x"}, {"id": "a b", "content": "y"},
                                             {"id": "ok", "content": ""}, {"id": True, "content": "z"}]}])
def test_unusable_menus_are_none(value):
    assert parse_menu(value) is None


def test_bad_items_are_left_out_and_the_list_is_capped():
    items = [{"id": f"faq.q{i}", "content": f"问题{i}"} for i in range(12)]
    menu = parse_menu({"head_content": " 您是想问： ", "list": [{"id": "<script>", "content": "x"},
                                                               {"id": "faq.q0", "content": "重复"}, *items]})
    assert menu.head == "您是想问：" and menu.tail == ""
    assert [i for i, _ in menu.items] == [f"faq.q{i}" for i in range(10)]
    assert dict(menu.items)["faq.q0"] == "重复"                 # the first of a duplicated id wins
    assert parse_menu({"list": [{"id": 101, "content": "满意"}]}).items == (("101", "满意"),)


def test_menu_ids_are_vetted():
    assert clean_menu_id(" faq.claim.process ") == "faq.claim.process"
    assert clean_menu_id("clause.medical_million.claims") == "clause.medical_million.claims"
    for bad in ("", "有中文", "a b", "x" * 129, "/intent{}", None, 7):
        assert clean_menu_id(bad) == ""
    assert oa_menu_id({"bizmsgmenuid": "faq.a"}) == "faq.a"
    assert oa_menu_id({"BizMsgMenuId": "faq.b"}) == "faq.b"
    assert oa_menu_id({"Content": "x"}) == ""


# ---- inbound: a tapped option ----------------------------------------------------------------------
def test_tap_on_the_official_account_is_a_text_with_menu_id():
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID)
    fields = pusher.menu_tap("oTapper000001", "faq.claim.process", "怎么申请理赔？")
    msg = parse_inbound(parse_xml(to_xml(fields).encode()))   # the XML as WeChat pushes it
    assert msg.msg_type == "text" and msg.content == "怎么申请理赔？" and msg.menu_id == "faq.claim.process"
    assert plan_for(msg) == m.Plan("text", rasa_text="怎么申请理赔？", menu_id="faq.claim.process")
    # the same exactly-once key as any text message: its MsgId
    assert msg.dedupe_key == f"wx:{pusher.account}:m:{fields['MsgId']}"
    plain = parse_inbound(parse_xml(to_xml(pusher.text("oTapper000001", "你好")).encode()))
    assert plain.menu_id == "" and plan_for(plain).menu_id == ""
    forged = parse_inbound(parse_xml(to_xml({**fields, "bizmsgmenuid": "/restart{}"}).encode()))
    assert plan_for(forged) == m.Plan("text", rasa_text="怎么申请理赔？")   # an id we never sent is dropped


def test_tap_in_kf_is_a_text_with_menu_id():
    tap = {"msgtype": "text", "text": {"content": "怎么申请理赔？", "menu_id": "faq.claim.process"}}
    assert plan_for_kf(tap) == m.Plan("text", rasa_text="怎么申请理赔？", menu_id="faq.claim.process")
    assert plan_for_kf({"msgtype": "text", "text": {"content": "你好"}}).menu_id == ""


# ---- Rasa's output -> replies -------------------------------------------------------------------------
def test_a_menu_message_is_one_reply_whatever_shape_it_comes_in():
    menu = parse_menu(MSGMENU)
    assert replies_from_bot([CLARIFY]) == [Reply(NUMBERED, menu)]
    # Rasa's own collector splits it: a text, then a custom message
    assert replies_from_bot([{"text": NUMBERED}, {"custom": {"msgmenu": MSGMENU}}]) == [Reply(NUMBERED, menu)]
    # a custom-only menu after a text that does not list its options: both kept, the menu as numbered text
    assert replies_from_bot([{"text": "抱歉"}, {"custom": {"msgmenu": MSGMENU}}]) == [
        Reply("抱歉"), Reply(menu.as_text(), menu)]
    assert replies_from_bot([{"custom": {"msgmenu": MSGMENU}}]) == [Reply(menu.as_text(), menu)]
    # an unusable msgmenu: the text as today
    assert replies_from_bot([{"text": NUMBERED, "custom": {"msgmenu": {"list": []}}}]) == [Reply(NUMBERED)]
    # every channel that shows text shows the numbered list, once
    assert texts_from_bot([CLARIFY]) == [NUMBERED]
    assert texts_from_bot([{"text": NUMBERED}, {"custom": {"msgmenu": MSGMENU}}]) == [NUMBERED]


def test_delivery_decision():
    menu = parse_menu(MSGMENU)
    replies = [Reply("先说一句"), Reply(NUMBERED, menu), Reply("再说一句")]
    # WECHAT_MSGMENU=false: exactly today's plan (one passive reply with the numbered list)
    assert reply_plan(replies, menus=False) == delivery_plan([r.text for r in replies])
    assert reply_plan(replies, menus=False)[0] == "先说一句\n\n" + NUMBERED + "\n\n再说一句"
    # true: no passive reply; the answer's messages in order, the menu as a menu message
    assert reply_plan(replies, menus=True) == (None, ["先说一句", MenuPart(menu, NUMBERED), "再说一句"])
    # text-only answers: passive as before, whatever the setting
    assert reply_plan([Reply("你好")], menus=True) == ("你好", [])
    # a menu whose text does not fit one message goes out as text
    long = Reply("长" * 700, menu)
    assert parts_with_menus([long]) == ["长" * 682, "长" * 18]
    assert reply_plan([long], menus=True) == (None, ["长" * 682, "长" * 18])


def test_menus_survive_the_ledger(sqlite_store):
    menu = parse_menu(MSGMENU)
    replies = [Reply("前言"), Reply(NUMBERED, menu)]
    assert menus_for_ledger([Reply("a")]) == []            # most turns store nothing extra
    ledger = TurnLedger(sqlite_store)
    ledger.claim("k1", time.time() + 5)
    ledger.finish("k1", [r.text for r in replies], "custom", menus=menus_for_ledger(replies))
    record = ledger.get("k1")
    assert replies_from_ledger(record.texts, record.menus) == replies
    # a record written before menus existed
    old = TurnRecord.load(json.dumps({"state": "done", "texts": ["x"], "delivery": "passive"}))
    assert old.menus == [] and replies_from_ledger(old.texts, old.menus) == [Reply("x")]


# ---- the setting ------------------------------------------------------------------------------------
def test_wechat_msgmenu_setting(monkeypatch):
    monkeypatch.delenv("WECHAT_MSGMENU", raising=False)
    assert WeChatConfig().msgmenu is False
    assert WeChatConfig.from_environ({}).msgmenu is False
    assert WeChatConfig.from_environ({"WECHAT_MSGMENU": "false"}).msgmenu is False
    for on in ("true", "TRUE", "1", "yes", "on"):
        assert WeChatConfig.from_environ({"WECHAT_MSGMENU": on}).msgmenu is True
    monkeypatch.setenv("WECHAT_MSGMENU", "true")               # what every process (Rasa too) reads
    config = WeChatConfig.from_settings(load_settings())
    assert config.msgmenu is True
    # how the Rasa channel merges credentials.yml over the settings (asdict keeps it a bool)
    assert WeChatConfig.from_credentials({**asdict(config), "token": "t"}).msgmenu is True
    assert WeChatConfig.from_credentials({"msgmenu": "false"}).msgmenu is False


# ---- API bodies against the fake platform ----------------------------------------------------------
def oa_api(platform, store) -> OfficialAccountApi:
    return OfficialAccountApi(WeChatConfig(token="t", app_id=APP_ID, app_secret=APP_SECRET,
                                           api_base_url=platform.base_url), store)


def test_oa_menu_message_body(platform, sqlite_store):
    openid = new_openid()
    platform.user_interacted(openid)
    oa_api(platform, sqlite_store).send_menu(openid, parse_menu(MSGMENU))
    name, payload = platform.calls[-1]
    assert name == "message/custom/send"
    assert payload == {"touser": openid, "msgtype": "msgmenu", "msgmenu": MSGMENU}
    assert platform.menus_to(openid) == [MSGMENU]
    platform.verified = False
    with pytest.raises(WeChatApiError) as err:
        oa_api(platform, sqlite_store).send_menu(openid, parse_menu(MSGMENU))
    assert err.value.errcode == 40200 and not err.value.retryable


# ---- Official Account: the delivery --------------------------------------------------------------------
def oa_setup(platform, store, *, msgmenu=True, bot=None, deadline=1.0, mode="plain"):
    key = new_aes_key()
    cfg = WeChatConfig(token=TOKEN, app_id=APP_ID, app_secret=APP_SECRET,
                       encoding_aes_key=key if mode != "plain" else "", api_base_url=platform.base_url,
                       passive_deadline_s=deadline, msgmenu=msgmenu)
    bot = bot or ScriptedBot(reply=[CLARIFY])
    hook = WeChatWebhook(cfg, TurnLedger(store), bot, OfficialAccountApi(cfg, store))
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID, aes_key=key if mode != "plain" else None,
                          mode=mode, platform=platform)
    return hook, bot, pusher


def push(hook, pusher, fields_list):
    async def scenario():
        replies = [await post(hook, pusher, fields) for fields in fields_list]
        await hook.drain()
        return replies
    platform = pusher.platform
    for fields in fields_list:
        platform.user_interacted(str(fields["FromUserName"]))
    return asyncio.run(scenario())


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_menu_answer_is_success_then_a_menu_message(platform, sqlite_store, mode):
    hook, bot, pusher = oa_setup(platform, sqlite_store, mode=mode)
    openid = new_openid()
    started = time.monotonic()
    [reply] = push(hook, pusher, [pusher.text(openid, "理赔")])
    assert reply.body == "success" and time.monotonic() - started < 0.9    # no wait for the passive deadline
    assert platform.sent_to(openid) == [("msgmenu", MSGMENU)]                # the menu, not the numbered text
    assert len(bot.calls) == 1


def test_menu_answer_keeps_the_order_of_the_turns_messages(platform, sqlite_store):
    bot = ScriptedBot(reply=[{"text": "先看一下"}, {"text": NUMBERED}, {"custom": {"msgmenu": MSGMENU}},
                             {"text": "也可以回复“转人工”"}])
    hook, _, pusher = oa_setup(platform, sqlite_store, bot=bot)
    openid = new_openid()
    [reply] = push(hook, pusher, [pusher.text(openid, "理赔")])
    assert reply.body == "success"
    assert platform.sent_to(openid) == [("text", "先看一下"), ("msgmenu", MSGMENU), ("text", "也可以回复“转人工”")]


def test_menus_off_sends_the_numbered_text_as_a_passive_reply(platform, sqlite_store):
    hook, _, pusher = oa_setup(platform, sqlite_store, msgmenu=False)
    openid = new_openid()
    [reply] = push(hook, pusher, [pusher.text(openid, "理赔")])
    assert pusher.decode_reply(reply.body)["Content"] == NUMBERED
    assert platform.sent_to(openid) == [] and platform.count("message/custom/send") == 0


def test_text_only_answers_stay_passive_with_menus_on(platform, sqlite_store):
    hook, _, pusher = oa_setup(platform, sqlite_store, bot=ScriptedBot())
    openid = new_openid()
    [reply] = push(hook, pusher, [pusher.text(openid, "等待期多久")])
    assert pusher.decode_reply(reply.body)["Content"] == "回声：等待期多久"
    assert platform.count("message/custom/send") == 0


def test_unverified_account_falls_back_to_the_numbered_text(platform, sqlite_store):
    """40200: the numbered text goes out instead, and the next menus are not tried for a while."""
    platform.verified = False
    hook, bot, pusher = oa_setup(platform, sqlite_store)
    openid = new_openid()
    first = pusher.text(openid, "理赔")
    assert push(hook, pusher, [first])[0].body == "success"
    assert platform.sent_to(openid) == [("text", NUMBERED)]
    assert hook.ledger.get(f"wx:{pusher.account}:m:{first['MsgId']}").outcome == "sent"
    # the next clarification: menus paused after the 40200, so a passive reply again
    [second] = push(hook, pusher, [pusher.text(openid, "等待期")])
    assert pusher.decode_reply(second.body)["Content"] == NUMBERED
    assert [name for name, _ in platform.calls].count("message/custom/send") == 2   # refused menu + text
    assert len(bot.calls) == 2


def test_other_refusals_fall_back_for_that_message_only(platform, sqlite_store):
    hook, _, pusher = oa_setup(platform, sqlite_store)
    openid = new_openid()
    platform.fail_next("message/custom/send", 47001)           # e.g. a body this account's WeChat rejects
    push(hook, pusher, [pusher.text(openid, "理赔")])
    assert platform.sent_to(openid) == [("text", NUMBERED)]
    push(hook, pusher, [pusher.text(openid, "理赔2")])            # not paused: the next menu is a menu
    assert platform.sent_to(openid)[-1] == ("msgmenu", MSGMENU)


@pytest.mark.parametrize("errcode", [45015, 45047])
def test_window_and_quota_refusals_are_recorded_not_retried_as_text(platform, sqlite_store, errcode):
    hook, _, pusher = oa_setup(platform, sqlite_store)
    openid = new_openid()
    platform.fail_next("message/custom/send", errcode)
    fields = pusher.text(openid, "理赔")
    push(hook, pusher, [fields])
    assert platform.count("message/custom/send") == 1 and platform.sent_to(openid) == []
    record = hook.ledger.get(f"wx:{pusher.account}:m:{fields['MsgId']}")
    assert record.delivery == "custom" and record.outcome == f"failed:{errcode}"


def test_busy_api_retries_the_menu_and_sends_it_once(platform, sqlite_store):
    hook, _, pusher = oa_setup(platform, sqlite_store)
    openid = new_openid()
    platform.fail_next("message/custom/send", -1)
    push(hook, pusher, [pusher.text(openid, "理赔")])
    assert platform.count("message/custom/send") == 2
    assert platform.sent_to(openid) == [("msgmenu", MSGMENU)]


def test_retries_and_replays_of_a_menu_turn_run_once_and_send_once(platform, sqlite_store):
    hook, bot, pusher = oa_setup(platform, sqlite_store, bot=ScriptedBot(reply=[CLARIFY], delay=0.3))
    openid = new_openid()
    fields = pusher.text(openid, "理赔")
    platform.user_interacted(openid)

    async def scenario():
        together = await asyncio.gather(post(hook, pusher, fields), post(hook, pusher, fields))
        await hook.drain()
        later = await post(hook, pusher, fields)                 # a replay after delivery
        await hook.drain()
        return [*together, later]

    replies = asyncio.run(scenario())
    assert [r.body for r in replies] == ["success"] * 3
    assert len(bot.calls) == 1 and platform.sent_to(openid) == [("msgmenu", MSGMENU)]


def test_a_tap_reaches_the_bot_with_menu_id_and_is_answered_like_text(platform, sqlite_store):
    hook, bot, pusher = oa_setup(platform, sqlite_store, bot=ScriptedBot())
    openid = new_openid()
    tap = pusher.menu_tap(openid, "faq.claim.process", "怎么申请理赔？")
    first, replay = push(hook, pusher, [tap, tap])
    assert pusher.decode_reply(first.body)["Content"] == "回声：怎么申请理赔？"
    assert pusher.decode_reply(replay.body)["Content"] == "回声：怎么申请理赔？"   # from the ledger
    assert len(bot.calls) == 1
    call = bot.calls[0]
    assert call["text"] == "怎么申请理赔？"
    assert call["metadata"] == {"wechat": {"msg_type": "text", "kind": "text"}, "menu_id": "faq.claim.process"}
    push(hook, pusher, [pusher.text(openid, "你好")])
    assert "menu_id" not in bot.calls[1]["metadata"]


def test_store_outage_still_sends_the_menu(platform, sqlite_store):
    hook, _, pusher = oa_setup(platform, sqlite_store)
    hook.ledger = TurnLedger(BrokenStore())
    openid = new_openid()
    [reply] = push(hook, pusher, [pusher.text(openid, "理赔")])
    assert reply.body == "success" and platform.sent_to(openid) == [("msgmenu", MSGMENU)]


def test_no_api_credentials_means_text(platform, sqlite_store):
    cfg = WeChatConfig(token=TOKEN, app_id=APP_ID, passive_deadline_s=1.0, msgmenu=True)
    hook = WeChatWebhook(cfg, TurnLedger(sqlite_store), ScriptedBot(reply=[CLARIFY]), None)
    pusher = WeChatPusher("http://unused", TOKEN, APP_ID, platform=platform)
    [reply] = push(hook, pusher, [pusher.text(new_openid(), "理赔")])
    assert pusher.decode_reply(reply.body)["Content"] == NUMBERED


# ---- the sender's fallback rule, without HTTP ------------------------------------------------------
def test_sender_fallback_rule():
    from connectors.outbound import sender_with_menus

    sent = []

    def text(part):
        sent.append(("text", part))

    def failing_menu(code, retryable=False):
        def send(menu):
            sent.append(("menu?", code))
            raise WeChatApiError(code, "x", "message/custom/send", retryable=retryable)
        return send

    part = MenuPart(parse_menu(MSGMENU), NUMBERED)
    refused = []
    assert send_in_order(sender_with_menus(text, failing_menu(40200), {45015}, refused.append), [part]) is None
    assert sent == [("menu?", 40200), ("text", NUMBERED)] and refused[0].errcode == 40200
    sent.clear()
    failed = send_in_order(sender_with_menus(text, failing_menu(45015), {45015}), [part, "next"])
    assert failed.error.errcode == 45015 and sent == [("menu?", 45015)]       # stops, as a text would
    sent.clear()
    failed = send_in_order(sender_with_menus(text, failing_menu(-1)), [part], retry_delays=(0.0,))
    assert failed.error.errcode == -1 and sent == [("menu?", -1)]              # a read timeout: no retry, no text
    sent.clear()
    send_in_order(sender_with_menus(text, failing_menu(-1, True)), [part], retry_delays=(0.0,))
    assert sent == [("menu?", -1), ("menu?", -1)]                             # busy: retried, never as text
    sent.clear()
    send_in_order(sender_with_menus(text, failing_menu(40200), menus_off=lambda: True), [part])
    assert sent == [("text", NUMBERED)]


# ---- 微信客服 -----------------------------------------------------------------------------------------
CORP, KF_SECRET, KFID, KF_TOKEN = "wwMenuCorp000001", "kf-menu-secret", "wkMENU01", "kf-menu-token"


def kf_setup(platform, store, bot):
    platform.add_corp(CORP, kf_secret=KF_SECRET)
    key = new_aes_key()
    cfg = WeComKfConfig(corp_id=CORP, kf_secret=KF_SECRET, token=KF_TOKEN, encoding_aes_key=key,
                        open_kfid=KFID, api_base_url=platform.base_url)
    hook = WeComKfWebhook(cfg, store, bot, KfApi(CORP, KF_SECRET, platform.base_url, store))
    return hook, WeComCallbackPusher("http://unused", KF_TOKEN, key, CORP)


def kf_round(hook, pusher, token):
    async def scenario():
        params, body = pusher.build_kf_event(KFID, token)
        reply = await hook.receive(params, body)
        await hook.drain()
        return reply
    return asyncio.run(scenario())


def test_kf_menu_message_and_tap(platform, sqlite_store):
    bot = ScriptedBot(reply=[{"text": NUMBERED}, {"custom": {"msgmenu": MSGMENU}}])
    hook, pusher = kf_setup(platform, sqlite_store, bot)
    user = "wmMenu" + uuid.uuid4().hex[:8]
    assert kf_round(hook, pusher, platform.customer_sends(KFID, user, "理赔")).body == "success"
    assert platform.kf_menus_to(user) == [parse_menu(MSGMENU).kf_body()]
    assert platform.kf_texts_to(user) == []                       # the menu replaces the numbered text
    sent = [p for name, p in platform.calls if name == "kf/send_msg"][-1]
    assert sent["msgtype"] == "msgmenu" and sent["open_kfid"] == KFID and sent["touser"] == user
    # the customer taps the first option
    bot.reply = None
    kf_round(hook, pusher, platform.customer_taps(KFID, user, "faq.claim.process", "怎么申请理赔？"))
    assert bot.calls[-1]["text"] == "怎么申请理赔？"
    assert bot.calls[-1]["metadata"] == {"wecom_kf": {"kind": "text"}, "menu_id": "faq.claim.process"}
    assert platform.kf_texts_to(user) == ["回声：怎么申请理赔？"]
    assert bot.calls[0]["metadata"] == {"wecom_kf": {"kind": "text"}}


def test_kf_menu_refusals(platform, sqlite_store):
    bot = ScriptedBot(reply=[CLARIFY])
    hook, pusher = kf_setup(platform, sqlite_store, bot)
    user = "wmMenu" + uuid.uuid4().hex[:8]
    platform.fail_next("kf/send_msg", 40058)                     # the menu refused: its text instead
    kf_round(hook, pusher, platform.customer_sends(KFID, user, "理赔"))
    assert platform.kf_texts_to(user) == [NUMBERED] and platform.kf_menus_to(user) == []
    platform.fail_next("kf/send_msg", 95018)                     # a person took over: nothing, as for text
    kf_round(hook, pusher, platform.customer_sends(KFID, user, "理赔2"))
    assert platform.kf_texts_to(user) == [NUMBERED] and platform.kf_menus_to(user) == []


# ---- the Rasa side: collecting a menu message, and where the metadata lands for an action ---------------
RASA_SIDE = r'''
import asyncio, json
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.graph_components.converters.nlu_message_converter import NLUMessageConverter
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from connectors.turn_guard import MenuKeepingCollector

CLARIFY = json.loads(%r)

async def collect(collector, message):
    await collector.send_response("u1", dict(message))
    return collector.messages

out = {
    "ours": asyncio.run(collect(MenuKeepingCollector(), CLARIFY)),
    "rasa": asyncio.run(collect(CollectingOutputChannel(), CLARIFY)),
    "ours_plain": asyncio.run(collect(MenuKeepingCollector(), {"text": "a\n\nb", "custom": {"x": 1}})),
    "rasa_plain": asyncio.run(collect(CollectingOutputChannel(), {"text": "a\n\nb", "custom": {"x": 1}})),
}
# what the processor does with a channel's UserMessage (rasa/core/processor.py, Rasa 3.6):
# parse_data comes from the NLU graph (only output properties), then UserUttered(..., metadata=message.metadata)
metadata = {"wechat": {"msg_type": "text", "kind": "text"}, "menu_id": "faq.claim.process"}
message = UserMessage("怎么申请理赔？", None, "u1", input_channel="wechat", message_id="m1", metadata=metadata)
[nlu_message] = NLUMessageConverter().convert_user_message([message])
nlu_message.set("intent", {"name": "ask_question", "confidence": 0.9}, add_to_output=True)
nlu_message.set("entities", [], add_to_output=True)
parse_data = {"text": "", "intent": {"name": None, "confidence": 0.0}, "entities": []}
parse_data.update(nlu_message.as_dict(only_output_properties=True))
out["parse_data_keys"] = sorted(parse_data)
tracker = DialogueStateTracker.from_events("u1", [ActionExecuted("action_listen")])
tracker.update(UserUttered(message.text, parse_data["intent"], parse_data["entities"], parse_data,
                           input_channel=message.input_channel, message_id=message.message_id,
                           metadata=message.metadata))
out["state"] = tracker.current_state(EventVerbosity.ALL)     # what RemoteAction sends the action server

# the output channels (trigger_intent?output_channel=...): one message, as a menu or as its text
from connectors.wechat_channel import WeChatOutput
from connectors.wecom_kf_channel import WeComKfOutput

class Api:
    def __init__(self): self.sent = []
    def send_text(self, *args): self.sent.append(["text", args[-1]])
    def send_menu(self, *args): self.sent.append(["msgmenu", args[-1].oa_body()])

async def output(channel, message):
    await channel.send_response("u1", dict(message))
    return channel.api.sent

out["oa_menus"] = asyncio.run(output(WeChatOutput(Api(), menus=True), CLARIFY))
out["oa_text"] = asyncio.run(output(WeChatOutput(Api(), menus=False), CLARIFY))
out["oa_plain"] = asyncio.run(output(WeChatOutput(Api(), menus=True), {"text": "你好"}))
out["kf"] = asyncio.run(output(WeComKfOutput(Api(), "wkX"), CLARIFY))
print(json.dumps(out, ensure_ascii=False, default=str))
'''


def test_rasa_side_keeps_the_menu_message_whole_and_exposes_menu_id_to_actions():
    if not RASA_PYTHON.exists():
        pytest.skip("Rasa venv missing: run `make install`")
    script = RASA_SIDE % json.dumps(CLARIFY, ensure_ascii=False)
    done = subprocess.run([str(RASA_PYTHON), "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=240, env={**os.environ, "PYTHONPATH": str(REPO_ROOT),
                                            "RASA_TELEMETRY_ENABLED": "false"})
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    # Rasa's collector splits the action's one message; ours keeps it whole
    assert out["rasa"] == [{"recipient_id": "u1", "text": NUMBERED}, {"recipient_id": "u1", "custom": CLARIFY["custom"]}]
    assert out["ours"] == [{"recipient_id": "u1", "text": NUMBERED, "custom": CLARIFY["custom"]}]
    assert out["ours_plain"] == out["rasa_plain"] == [
        {"recipient_id": "u1", "text": "a"}, {"recipient_id": "u1", "text": "b"},
        {"recipient_id": "u1", "custom": {"x": 1}}]
    # the NLU output never carries "metadata", so UserUttered fills parse_data["metadata"] from the message
    assert "metadata" not in out["parse_data_keys"]
    state = out["state"]
    assert state["latest_message"]["metadata"]["menu_id"] == "faq.claim.process"
    user_event = [e for e in state["events"] if e["event"] == "user"][-1]
    assert user_event["metadata"]["menu_id"] == "faq.claim.process"
    assert user_event["parse_data"]["metadata"]["menu_id"] == "faq.claim.process"
    # trigger_intent output: the menu, or (WECHAT_MSGMENU=false) the numbered text, never both
    assert out["oa_menus"] == out["kf"] == [["msgmenu", MSGMENU]]
    assert out["oa_text"] == [["text", NUMBERED]]
    assert out["oa_plain"] == [["text", "你好"]]
    # and the action server's rasa_sdk (this venv) reads it there
    from rasa_sdk import Tracker

    tracker = Tracker.from_dict(state)
    assert tracker.latest_message["metadata"]["menu_id"] == "faq.claim.process"
    assert tracker.latest_message["metadata"]["wechat"]["kind"] == "text"
