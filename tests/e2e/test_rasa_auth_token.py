"""RASA_AUTH_TOKEN end to end: one real stack with the token set.

Rasa's HTTP API needs ``?token=``; the webhooks (REST, WeChat) stay open because WeChat
authenticates them with signatures; the web service's /healthz probes Rasa with the token; and the
per-user rate limit works in the real ``wechat`` channel. Ports: base 26500 (Rasa 31505, actions
31555, web 34500), clear of the other stacks' offsets.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid

import httpx
import pytest

from common.stack import MODEL_PATH, RASA_BIN
from connectors import messages as m
from tests.e2e.conftest import rest, run_stack, stack_settings
from tests.fakes.wechat_platform import FakeWeChatPlatform
from tests.fakes.wechat_pusher import WeChatPusher

pytestmark = pytest.mark.timeout(600)

BASE_PORT = 26500
AUTH_TOKEN = "e2e-" + uuid.uuid4().hex
APP_ID, APP_SECRET, WX_TOKEN = "wxauth00000000001", "auth-e2e-app-secret", "auth-e2e-token"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not RASA_BIN.exists() or not MODEL_PATH.exists():
        pytest.skip("Rasa venv or models/insurebot.tar.gz missing: run `make install`")
    platform = FakeWeChatPlatform().start()
    platform.add_app(APP_ID, APP_SECRET)
    settings = stack_settings(tmp_path_factory.mktemp("stack-auth"), BASE_PORT, RASA_AUTH_TOKEN=AUTH_TOKEN,
                              RATE_LIMIT_PER_MINUTE="1", RATE_LIMIT_BURST="2")
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "RASA_AUTH_TOKEN")}
    env.update(WECHAT_TOKEN=WX_TOKEN, WECHAT_APP_ID=APP_ID, WECHAT_APP_SECRET=APP_SECRET,
               WECHAT_ENCODING_AES_KEY="", WECHAT_API_BASE_URL=platform.base_url)
    try:
        yield from run_stack(settings, env=env)
    finally:
        platform.stop()


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_http_api_needs_the_token_webhooks_do_not(stack):
    s = stack.settings
    assert rest(s, "auth-u1", "你好")                                     # REST webhook: no token needed
    status, body = _get(f"{s.rasa_url}/conversations/auth-u1/tracker")
    assert status == 401 and body.get("reason") == "NotAuthenticated"
    assert _get(f"{s.rasa_url}/conversations/auth-u1/tracker?token=wrong")[0] == 401
    status, body = _get(f"{s.rasa_url}/conversations/auth-u1/tracker?token={AUTH_TOKEN}")
    assert status == 200 and body["sender_id"] == "auth-u1"
    assert _get(f"{s.rasa_url}/status")[0] == 401


def test_healthz_reports_rasa_up_through_the_token(stack):
    resp = httpx.get(f"{stack.settings.web_url}/healthz", timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.json()["components"]["rasa_core"] == {"status": "up"}


def _user_texts(settings, sender: str) -> list[str]:
    tracker = httpx.get(f"{settings.rasa_url}/conversations/{sender}/tracker",
                        params={"token": AUTH_TOKEN}, timeout=10).json()
    return [e["text"] for e in tracker["events"] if e["event"] == "user"]


def test_wechat_webhook_works_without_token_and_limits_floods(stack):
    s = stack.settings
    pusher = WeChatPusher(f"{s.rasa_url}/webhooks/wechat/webhook", WX_TOKEN, APP_ID, mode="plain")
    try:
        forged = pusher.post_raw({**pusher.build(pusher.text("oForger", "你好"))[0], "signature": "0" * 40},
                                 pusher.build(pusher.text("oForger", "你好"))[1])
        assert forged.status == 403
        user = "oAuth_" + uuid.uuid4().hex[:8]
        results = [pusher.push(pusher.text(user, text), timeouts=(20,)) for text in ("你好", "在吗", "你好呀", "喂")]
    finally:
        pusher.close()
    assert all(r.final.status == 200 for r in results)
    # burst of 2: two turns reach Rasa, the third gets the one notice, the fourth nothing
    assert _user_texts(s, user) == ["你好", "在吗"]
    assert results[2].reply_text == m.REPLY_RATE_LIMITED
    assert results[3].reply is None
    assert _user_texts(s, "oForger") == []
