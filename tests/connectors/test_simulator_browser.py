"""The WeChat simulator in a real browser (Debian's chromium via Playwright) against the real stack.

The stack runs in demo mode: WECHAT_API_BASE_URL points at the web service's own stand-in, so
customer-service messages (slow answers) come back to the page too.
"""
from __future__ import annotations

import shutil

import httpx
import pytest

from tests.fakes.slow_proxy import SlowProxy
from tests.fakes.wechat_pusher import new_aes_key

from .stack import ACTION_PORT, RASA, WEB, start_test_stack

pytestmark = pytest.mark.timeout(300)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium"):
        pytest.skip("chromium not installed (apt-get install chromium)")
    proxy = SlowProxy(f"http://127.0.0.1:{ACTION_PORT}").start()
    stack = start_test_stack(tmp_path_factory.mktemp("simulator"), {
        "WECHAT_TOKEN": "demo-token", "WECHAT_APP_ID": "wxdemo0000000001", "WECHAT_APP_SECRET": "demo-secret",
        "WECHAT_ENCODING_AES_KEY": new_aes_key(), "WECHAT_API_BASE_URL": f"{WEB}/simulator/cgi-bin/",
        "WECHAT_MSGMENU": "true",        # as the documented demo: menu messages shown with tappable options
    }, action_server_url=f"{proxy.url}/webhook")
    # the first turn after a start loads what Rasa, the actions and search load lazily (seconds); this test
    # is about how the page shows passive replies and customer-service messages, so it chats with warm services
    for text in ("你好", "百万医疗险等待期多久"):
        httpx.post(f"{RASA}/webhooks/rest/webhook", json={"sender": "warm-up", "message": text}, timeout=60)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser, proxy
        finally:
            browser.close()
            stack.stop()
            proxy.stop()


def bot_bubbles(page):
    return page.locator(".msg.bot .bubble")


def test_chat_as_a_wechat_user(demo):
    browser, proxy = demo
    page = browser.new_page()
    page.goto(f"{WEB}/simulator")
    sync_api = pytest.importorskip("playwright.sync_api")
    sync_api.expect(page.locator("#mode")).to_have_text("🔒 安全模式", timeout=15_000)
    assert page.locator("#notice").is_hidden()

    page.fill("#input", "你好")
    page.click("#send")
    first = bot_bubbles(page).nth(0)
    first.wait_for(timeout=30_000)
    assert "保险小助手" in first.inner_text() and "被动回复" in first.inner_text()
    assert page.locator(".msg.user .bubble").nth(0).inner_text() == "你好"

    page.select_option("#location", label="厦门 思明")
    bot_bubbles(page).nth(1).wait_for(timeout=15_000)
    assert "福建" in bot_bubbles(page).nth(1).inner_text()

    page.click("[data-action=image]")
    bot_bubbles(page).nth(2).wait_for(timeout=15_000)
    assert "理赔" in bot_bubbles(page).nth(2).inner_text()

    page.click("[data-menu=MENU_HUMAN]")
    bot_bubbles(page).nth(3).wait_for(timeout=15_000)
    assert bot_bubbles(page).nth(3).inner_text().strip()

    # a slow answer: `success` within the 5-second rule, then a customer-service message
    proxy.delay = 6.0
    try:
        page.fill("#input", "百万医疗险等待期多久")
        page.click("#send")
        page.wait_for_function("document.getElementById('status').textContent.includes('正在输入')",
                               timeout=15_000)
        late = page.locator(".msg.bot[data-via=custom] .bubble").first
        late.wait_for(timeout=30_000)
    finally:
        proxy.delay = 0.0
    assert "客服消息" in late.inner_text()
    page.wait_for_timeout(1500)
    assert page.locator(".msg.bot").count() == 5        # nothing answered twice
    # the page never renders replies as HTML
    assert page.locator(".msg .bubble script").count() == 0
    page.close()


def test_menu_message_options_are_tappable(demo):
    """A menu message (as the channel sends it with WECHAT_MSGMENU=true) shows its options as links; a tap
    pushes a real signed text with <bizmsgmenuid>, Rasa gets the option id as metadata, the answer shows."""
    browser, _ = demo
    page = browser.new_page()
    page.goto(f"{WEB}/simulator")
    sync_api = pytest.importorskip("playwright.sync_api")
    sync_api.expect(page.locator("#mode")).to_have_text("🔒 安全模式", timeout=15_000)
    openid = page.evaluate("localStorage.getItem('wechat-sim-openid')")
    # the stand-in for WeChat's API receives a menu message for this user, as the channel would send it
    token = httpx.post(f"{WEB}/simulator/cgi-bin/stable_token", json={
        "grant_type": "client_credential", "appid": "wxdemo0000000001", "secret": "demo-secret"}).json()["access_token"]
    menu = {"head_content": "您是想问：",
            "list": [{"id": "faq.claim.process", "content": "怎么申请理赔？"},
                     {"id": "clause.medical_million.claims", "content": "《百万医疗险条款》第十条 保险金申请"}],
            "tail_content": "都不是的话，换个说法问我～"}
    sent = httpx.post(f"{WEB}/simulator/cgi-bin/message/custom/send", params={"access_token": token},
                      json={"touser": openid, "msgtype": "msgmenu", "msgmenu": menu}).json()
    assert sent["errcode"] == 0
    options = page.locator(".msg.bot .menu-item")
    options.first.wait_for(timeout=15_000)
    assert options.count() == 2
    assert page.locator(".msg.bot .menu-head").first.inner_text() == "您是想问："
    assert page.locator(".msg.bot .menu-tail").first.inner_text() == "都不是的话，换个说法问我～"
    assert options.nth(0).evaluate("el => getComputedStyle(el).color") == "rgb(87, 107, 149)"   # WeChat's link blue
    options.nth(0).click()
    user_bubble = page.locator(".msg.user .bubble").last
    sync_api.expect(user_bubble).to_have_text("怎么申请理赔？", timeout=15_000)
    answer = page.locator(".msg.bot[data-via=passive] .bubble").last
    answer.wait_for(timeout=30_000)
    assert answer.inner_text().strip()
    events = httpx.get(f"{RASA}/conversations/{openid}/tracker", params={"include_events": "ALL"},
                       timeout=10).json()["events"]
    [tap] = [e for e in events if e["event"] == "user"]
    assert tap["text"] == "怎么申请理赔？" and tap["metadata"]["menu_id"] == "faq.claim.process"
    page.close()
