"""The agent console in a real browser (Debian's chromium via Playwright) against the real stack:
login, queue, claim, live chat with the context card, a knowledge-base quick reply, end."""
from __future__ import annotations

import shutil

import pytest

from .conftest import PASSWORD, unique, wait_until

pytestmark = pytest.mark.timeout(600)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium") and not shutil.which(CHROMIUM):
        pytest.skip("chromium not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_agent_console_in_a_browser(hstack, browser):
    hs = hstack
    hs.all_agents_offline()
    username = unique("browser")
    session = hs.agent(username, "小王", status="busy")          # busy: the hand-off waits in the queue
    user = unique("browser-user")
    hs.rest(user, "百万医疗险等待期多久")
    assert "正在为您转接" in " ".join(r.get("text", "") for r in hs.rest(user, "转人工"))
    hid = hs.http.get(f"{hs.web}/api/handoff/conversations/{user}").json()["handoff_id"]

    page = browser.new_page()
    page.goto(f"{hs.web}/agent/")
    assert page.url.endswith("/agent/login")
    page.fill("#username", username)
    page.fill("#password", "wrong-password")
    page.click("#login-btn")
    assert "用户名或密码错误" in page.locator("#login-error").inner_text()
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-btn")
    page.wait_for_url("**/agent/")
    page.locator("#me", has_text="小王").wait_for(timeout=10_000)
    assert page.locator("#status-select").input_value() == "busy"

    item = page.locator(f"#queue-list li[data-id='{hid}']")
    item.wait_for(timeout=10_000)
    assert "用户要求转人工" in item.inner_text()
    item.locator("button.claim").click()
    page.locator("#end-btn").wait_for(state="visible", timeout=10_000)
    assert "接待中" in page.locator("#chat-status").inner_text()
    card = page.locator("#card-body").inner_text()
    assert "用户要求转人工" in card and "网页/接口" in card and "request_human" in card
    assert "百万医疗险等待期多久" in card                       # recent turns on the card
    assert page.locator("#suggestion").count() == 1             # a suggested reply from the knowledge base

    # the user's message arrives in the open chat
    assert hs.rest(user, "我妈妈58岁能买吗") == []
    page.locator(".msg.user .text", has_text="我妈妈58岁能买吗").wait_for(timeout=10_000)

    # a quick reply from the knowledge base, inserted and sent
    page.fill("#quick-search", "百万医疗险等待期")
    page.press("#quick-search", "Enter")
    page.locator("#quick-results li").first.wait_for(timeout=10_000)
    page.locator("#quick-results li button.insert").first.click()
    inserted = page.locator("#reply-input").input_value()
    assert inserted
    page.click("#send-btn")
    page.locator(".msg.agent .text").first.wait_for(timeout=10_000)
    outbox = lambda: hs.http.get(f"{hs.web}/api/handoff/conversations/{user}/outbox").json()["messages"]  # noqa: E731
    wait_until(lambda: any(m["role"] == "agent" and m["text"] == inserted for m in outbox()), message="sent reply")

    page.fill("#reply-input", "请问还有其他问题吗？")
    page.press("#reply-input", "Control+Enter")
    wait_until(lambda: any(m["text"] == "请问还有其他问题吗？" for m in outbox()), message="ctrl+enter reply")

    page.click("#end-btn")
    page.locator("#native-note", has_text="会话已结束").wait_for(timeout=10_000)
    assert hs.tracker(user)["paused"] is False
    assert any("1-5" in m["text"] for m in outbox())
    page.locator(f"#recent-list li[data-id='{hid}']").wait_for(timeout=10_000)

    page.select_option("#status-select", "online")
    wait_until(lambda: session.get("/agent/api/me")["agent"]["status"] == "online", message="status online")
    page.click("#logout-btn")
    page.wait_for_url("**/agent/login")
    assert session.get("/agent/api/me")["agent"]["status"] == "offline"
    page.close()
