"""End to end: a clarification question as a WeChat menu message, tapped, answered (real stack).

Its own stack runs the Official Account channel in safe mode with WECHAT_MSGMENU=true against the fake
platform (a verified service account). The question is the first dev-set message the running knowledge
service clarifies, so the test follows the shipped model rather than a guess about it.
"""
from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from connectors import messages as m
from connectors.fault_replies import REPLY_HANDOFF_UNAVAILABLE
from tests.fakes.wechat_platform import FakeWeChatPlatform
from tests.fakes.wechat_pusher import WeChatPusher, new_aes_key

from .stack import RASA, WEB, start_test_stack

pytestmark = pytest.mark.timeout(300)

APP_ID, APP_SECRET, TOKEN = "wxclarify00000001", "clarify-app-secret", "clarify-token"
AES_KEY = new_aes_key()
WEBHOOK = f"{RASA}/webhooks/wechat/webhook"
KNOWLEDGE_ID = re.compile(r"[a-z0-9._]{1,60}")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    platform = FakeWeChatPlatform().start()
    platform.add_app(APP_ID, APP_SECRET)
    stack = start_test_stack(tmp_path_factory.mktemp("clarify-e2e"), {
        "WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
        "WECHAT_ENCODING_AES_KEY": AES_KEY, "WECHAT_API_BASE_URL": platform.base_url,
        "WECHAT_MSGMENU": "true",
    })
    pusher = WeChatPusher(WEBHOOK, TOKEN, APP_ID, aes_key=AES_KEY, mode="safe", platform=platform)
    pusher.push(pusher.text("oWarmupClarify", "百万医疗险等待期多久"), timeouts=(30,))
    yield platform, pusher
    pusher.close()
    stack.stop()
    platform.stop()


def user_events(openid: str) -> list:
    data = httpx.get(f"{RASA}/conversations/{openid}/tracker", params={"include_events": "ALL"}, timeout=10).json()
    return [e for e in data["events"] if e["event"] == "user"]


def answer_after(platform, pusher, user, fields, seen: int):
    """What the user sees for ``fields``: the passive reply, else the customer-service messages after ``seen``."""
    result = pusher.push(fields)
    assert result.final.status == 200
    if result.reply is not None:
        return [("text", result.reply_text)]
    assert platform.wait_for(lambda p: len(p.sent_to(user)) > seen, timeout=20), "no answer arrived"
    time.sleep(1.0)                                   # the rest of the answer's messages
    return platform.sent_to(user)[seen:]


def clarified_question() -> str:
    """A dev-set message the knowledge service answers with options (no product context needed)."""
    from knowledge.training import load_dev

    for q in load_dev():
        if q.context_product is None:
            body = httpx.post(f"{WEB}/api/knowledge/search", json={"query": q.text}, timeout=10).json()
            if body["decision"] == "clarify" and len(body["options"]) >= 2:
                return q.text
    raise AssertionError("the knowledge service clarifies no dev message")


def test_clarification_menu_tap_gets_the_answer(env):
    platform, pusher = env
    question = clarified_question()
    user = "oClarify_" + uuid.uuid4().hex[:12]
    shown = answer_after(platform, pusher, user, pusher.text(user, question), 0)
    menus = [body for kind, body in shown if kind == "msgmenu"]
    # the clarification went out as one menu message (not also as its numbered text)
    assert len(menus) == 1, (question, shown)
    menu = menus[0]
    assert 1 <= len(menu["list"]) <= 3, menu
    assert all(KNOWLEDGE_ID.fullmatch(item["id"]) and item["content"] for item in menu["list"]), menu
    assert not any(kind == "text" and menu["list"][0]["content"] in body for kind, body in shown)
    # the user taps the second option: WeChat pushes a text with <bizmsgmenuid>
    option = menu["list"][1]
    answer = answer_after(platform, pusher, user, pusher.menu_tap(user, option["id"], option["content"]),
                          len(platform.sent_to(user)))
    texts = [body for kind, body in answer if kind == "text"]
    assert texts and all(t and t not in (m.REPLY_ERROR, REPLY_HANDOFF_UNAVAILABLE) for t in texts), answer
    assert not any(kind == "msgmenu" for kind, _ in answer), "the tap was answered with another menu"
    events = user_events(user)
    assert len(events) == 2 and events[-1]["metadata"]["menu_id"] == option["id"]
    assert events[-1]["text"] == option["content"]
    tracker = httpx.get(f"{RASA}/conversations/{user}/tracker", timeout=10).json()
    assert tracker["slots"]["last_answer_id"] == option["id"]  # the tapped option, not the first one
    assert tracker["slots"]["clarify_pending"] is False
