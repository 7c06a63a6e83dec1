"""End to end: the fake WeChat/WeCom platform talks to the real Rasa channels (real actions, web, stores).

One stack per module (Rasa needs ~15-25 s to start). The Official Account channel runs in safe
(AES) mode; slow bot turns come from a latency proxy in front of the real action server.
"""
from __future__ import annotations

import concurrent.futures
import time
import uuid

import httpx
import pytest

from connectors import messages as m
from tests.fakes.slow_proxy import SlowProxy
from tests.fakes.wechat_platform import FakeWeChatPlatform
from tests.fakes.wechat_pusher import WeChatPusher, WeComCallbackPusher, new_aes_key, sign, to_xml

from .stack import ACTION_PORT, RASA, start_test_stack

pytestmark = pytest.mark.timeout(300)

APP_ID, APP_SECRET, TOKEN = "wxe2e0000000000001", "e2e-app-secret", "e2e-token"
AES_KEY = new_aes_key()
WEBHOOK = f"{RASA}/webhooks/wechat/webhook"
FAQ = "百万医疗险等待期多久"
CORP, KF_SECRET, KF_TOKEN, KFID = "wwe2e00000000001", "e2e-kf-secret", "e2e-kf-token", "wkE2E"
KF_AES_KEY = new_aes_key()
KF_WAITING_USER = "wmWaitingSinceRestart"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    platform = FakeWeChatPlatform().start()
    platform.add_app(APP_ID, APP_SECRET)
    platform.add_corp(CORP, kf_secret=KF_SECRET)
    # written while no Rasa listened (its callback lost): the channel's start-up sync must answer it
    platform.customer_sends(KFID, KF_WAITING_USER, FAQ)
    proxy = SlowProxy(f"http://127.0.0.1:{ACTION_PORT}").start()
    var_dir = tmp_path_factory.mktemp("wechat-e2e")
    stack = start_test_stack(var_dir, {
        "WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
        "WECHAT_ENCODING_AES_KEY": AES_KEY, "WECHAT_API_BASE_URL": platform.base_url,
        "WECOM_CORP_ID": CORP, "WECOM_KF_SECRET": KF_SECRET, "WECOM_TOKEN": KF_TOKEN,
        "WECOM_ENCODING_AES_KEY": KF_AES_KEY, "WECOM_OPEN_KFID": KFID, "WECOM_API_BASE_URL": platform.base_url,
    }, action_server_url=f"{proxy.url}/webhook")
    pusher = WeChatPusher(WEBHOOK, TOKEN, APP_ID, aes_key=AES_KEY, mode="safe", platform=platform)
    # warm the FAQ path (embedding model load) so later timings are representative
    pusher.push(pusher.text("oWarmup", FAQ), timeouts=(30,))
    yield platform, proxy, pusher, var_dir
    pusher.close()
    stack.stop()
    proxy.stop()
    platform.stop()


def new_user() -> str:
    return "oE2E_" + uuid.uuid4().hex[:12]


def tracker(openid: str, include: str = "ALL") -> dict:
    return httpx.get(f"{RASA}/conversations/{openid}/tracker", params={"include_events": include},
                     timeout=10).json()


def user_events(openid: str) -> list:
    return [e for e in tracker(openid)["events"] if e["event"] == "user"]


def test_url_verification(env):
    _, _, pusher, _ = env
    assert pusher.verify_url("echo-42").text == "echo-42"
    assert pusher.verify_url("x", token="forged").status_code == 403
    assert pusher.verify_url("x", timestamp=int(time.time()) - 3600).status_code == 403
    assert httpx.get(f"{RASA}/webhooks/wechat/").json() == {"status": "ok"}


def test_every_message_type(env):
    platform, _, pusher, _ = env
    user = new_user()
    cases = [
        (pusher.event(user, "subscribe"), "保险小助手"),
        (pusher.text(user, FAQ), None),
        (pusher.voice(user, "你好"), "保险小助手"),
        (pusher.voice(user, None), m.REPLY_VOICE_UNRECOGNISED),
        (pusher.location(user, 22.543, 114.058, ""), "广东"),
        (pusher.location(user, 24.48, 118.09, "厦门市思明区"), "福建"),
        (pusher.image(user), m.REPLY_IMAGE),
        (pusher.link(user), m.REPLY_LINK),
        ({**pusher._base(user, "hologram"), "MsgId": 1234567}, m.REPLY_UNSUPPORTED),
        ({**pusher.text(user, ""), "Content": ""}, m.REPLY_EMPTY_TEXT),
        (pusher.event(user, "CLICK", "MENU_QUOTE"), None),
        (pusher.event(user, "CLICK", "MENU_CLAIM"), None),
        (pusher.event(user, "VIEW", "https://example.com"), ""),
    ]
    for fields, expected in cases:
        result = pusher.push(fields)
        assert result.final.status == 200, fields
        if expected == "":
            assert result.reply is None
            continue
        assert result.reply_text, fields
        if expected:
            assert expected in result.reply_text, (fields, result.reply_text)
    assert tracker(user)["slots"]["province"] == "福建"
    assert platform.messages_to(user) == []
    # unsubscribe closes the session: Rasa restarts the conversation and says nothing
    assert pusher.push(pusher.event(user, "unsubscribe")).final.body == "success"
    events = tracker(user)["events"]
    assert [e["event"] for e in events].count("restart") == 1
    assert tracker(user, "AFTER_RESTART")["slots"]["province"] is None


def test_bad_input_is_refused_and_nothing_is_processed(env):
    _, _, pusher, _ = env
    user = new_user()
    fields = pusher.text(user, "你好")
    params, body = pusher.build(fields)

    def post(p, b):
        return httpx.post(WEBHOOK, params=p, content=b, timeout=10)

    assert post({**params, "signature": "0" * 40}, body).status_code == 403
    assert post({**params, "msg_signature": params["signature"]}, body).status_code == 403
    stale = pusher.build(fields, timestamp=int(time.time()) - 400)
    assert post(*stale).status_code == 403
    other_app = pusher.build(fields, receive_id="wxSOMEONEELSE0000")
    assert post(*other_app).status_code == 403
    plain_pusher = WeChatPusher(WEBHOOK, TOKEN, APP_ID)
    assert post(*plain_pusher.build(fields)).status_code == 403   # plain push in safe mode
    assert post(params, b"A" * (70 * 1024)).status_code == 413
    for hostile in (b"<xml><Encrypt>", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml>&a;</xml>',
                    b'<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Encrypt>&x;</Encrypt></xml>'):
        assert post(params, hostile).status_code == 400
    # a hostile payload inside a correctly signed and encrypted envelope
    bomb = '<!DOCTYPE l [<!ENTITY l "ll"><!ENTITY l2 "&l;&l;&l;&l;">]><xml><ToUserName>gh</ToUserName></xml>'
    encrypted = pusher.aes.encrypt(bomb, APP_ID)
    p2, _ = pusher.build(fields)
    p2["msg_signature"] = sign(TOKEN, p2["timestamp"], p2["nonce"], encrypted)
    assert post(p2, to_xml({"Encrypt": encrypted}).encode()).status_code == 400
    assert user_events(user) == []
    # the channel still works, and a replayed message is answered from the ledger, not re-run
    first = pusher.push(fields)
    replay = pusher.push(fields)
    assert first.reply_text and replay.reply_text == first.reply_text
    assert len(user_events(user)) == 1


def test_concurrent_duplicate_deliveries_run_one_turn(env):
    platform, _, pusher, _ = env
    user = new_user()
    fields = pusher.text(user, FAQ)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: pusher.push(fields, timeouts=(10,)), range(3)))
    texts = {r.reply_text for r in results}
    assert len(texts) == 1 and None not in texts
    assert len(user_events(user)) == 1
    assert platform.messages_to(user) == []


def test_slow_turn_answered_once_through_customer_service(env):
    platform, proxy, pusher, _ = env
    user = new_user()
    proxy.delay = 6.0
    try:
        started = time.monotonic()
        result = pusher.push(pusher.text(user, FAQ))       # WeChat waits 5 s per attempt
        acked_after = time.monotonic() - started
        assert len(result.attempts) == 1 and result.final.body == "success"
        assert 3.5 < acked_after < 5.0
        assert platform.wait_for(lambda p: p.messages_to(user), timeout=20)
    finally:
        proxy.delay = 0.0
    time.sleep(1.0)
    assert len(platform.messages_to(user)) == 1
    assert any(t["touser"] == user for t in platform.typing_events)
    assert len(user_events(user)) == 1


def test_lost_response_retried_5s_later_gets_the_same_answer(env):
    platform, _, pusher, _ = env
    user = new_user()
    result = pusher.push(pusher.text(user, "你好"), lost=1)
    assert len(result.attempts) == 2
    assert "保险小助手" in (result.reply_text or "")
    assert len(user_events(user)) == 1 and platform.messages_to(user) == []


def test_slow_turn_with_lost_ack_is_answered_by_the_retry(env):
    """WeChat never got the first `success`; its retry 5 s later waits and gets the answer."""
    platform, proxy, pusher, _ = env
    user = new_user()
    proxy.delay = 7.0
    try:
        result = pusher.push(pusher.text(user, FAQ), lost=1)
    finally:
        proxy.delay = 0.0
    assert len(result.attempts) == 2 and result.reply_text
    time.sleep(1.0)
    assert platform.messages_to(user) == []
    assert len(user_events(user)) == 1


def test_menu_tap_reaches_rasa_as_metadata(env):
    """A tapped menu option (text + <bizmsgmenuid>) is a turn like any text; Rasa stores the option id as
    the user message's metadata, which a custom action reads as tracker.latest_message["metadata"]."""
    platform, _, pusher, _ = env
    user = new_user()
    tap = pusher.menu_tap(user, "faq.claim.process", "怎么申请理赔？")
    first = pusher.push(tap)
    assert first.reply_text and first.reply_text != m.REPLY_ERROR
    assert pusher.push(tap).reply_text == first.reply_text          # a replay: from the ledger, no second turn
    [event] = user_events(user)
    assert event["text"] == "怎么申请理赔？" and event["metadata"]["menu_id"] == "faq.claim.process"
    state = tracker(user)
    assert state["latest_message"]["metadata"]["menu_id"] == "faq.claim.process"
    assert state["latest_message"]["metadata"]["wechat"] == {"msg_type": "text", "kind": "text"}
    pusher.push(pusher.text(user, "谢谢"))
    assert "menu_id" not in tracker(user)["latest_message"]["metadata"]


# ---- WeCom customer service ----------------------------------------------------------------
KF_WEBHOOK = f"{RASA}/webhooks/wecom_kf/webhook"


def test_kf_message_left_while_no_replica_listened_is_answered_at_start(env):
    platform = env[0]
    assert platform.wait_for(lambda p: p.kf_texts_to(KF_WAITING_USER), timeout=30)
    time.sleep(1.0)                                            # a second answer would come now
    answers = platform.kf_texts_to(KF_WAITING_USER)
    assert len(answers) == 1 and "等待期" in answers[0]
    first_sync = next(payload for name, payload in platform.calls if name == "kf/sync_msg")
    assert "token" not in first_sync           # pulled by the start-up catch-up, not after a callback


def test_kf_verification_and_conversation(env):
    platform, _, _, _ = env
    kf = WeComCallbackPusher(KF_WEBHOOK, KF_TOKEN, KF_AES_KEY, CORP)
    assert kf.verify_url("5551234").text == "5551234"
    assert kf.verify_url("1", receive_id="wwOTHER").status_code == 403
    assert httpx.get(f"{RASA}/webhooks/wecom_kf/").json() == {"status": "ok"}
    user = "wmE2E" + uuid.uuid4().hex[:10]
    token = platform.customer_sends(KFID, user, "你好")
    assert kf.kf_event(KFID, token).text == "success"
    assert platform.wait_for(lambda p: p.kf_texts_to(user), timeout=15)
    assert "保险小助手" in platform.kf_texts_to(user)[0]
    assert platform.kf_sessions[(KFID, user)].state == 1
    # a human agent takes over: the bot stays silent, nothing is sent
    platform.set_kf_state(KFID, user, 3, servicer="agent01")
    token = platform.customer_sends(KFID, user, "怎么申请理赔")
    assert kf.kf_event(KFID, token).text == "success"
    kf.kf_event(KFID, token)                                  # duplicate callback
    time.sleep(2.0)
    assert len(platform.kf_texts_to(user)) == 1
    assert len(user_events(user)) == 1
    kf.close()



def test_kf_menu_tap_reaches_rasa_as_metadata(env):
    platform = env[0]
    kf = WeComCallbackPusher(KF_WEBHOOK, KF_TOKEN, KF_AES_KEY, CORP)
    user = "wmE2E" + uuid.uuid4().hex[:10]
    token = platform.customer_taps(KFID, user, "faq.claim.process", "怎么申请理赔？")
    assert kf.kf_event(KFID, token).text == "success"
    assert platform.wait_for(lambda p: p.kf_texts_to(user), timeout=15)
    [event] = user_events(user)
    assert event["metadata"]["menu_id"] == "faq.claim.process"
    assert tracker(user)["latest_message"]["metadata"]["menu_id"] == "faq.claim.process"
    kf.close()
