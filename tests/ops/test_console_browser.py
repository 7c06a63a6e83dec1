"""The ops console in a real browser (Debian's chromium via Playwright) against the real web app:
login, FAQ create -> test against the draft -> publish -> live answer -> diff -> rollback, clause
upload with chunk preview, rate-table validation, unanswered grouping and attach, analytics, users."""
from __future__ import annotations

import re
import shutil

import httpx
import pytest

from tests.helpers import free_port, serve_app
from web.main import create_app

from .conftest import PASSWORD, add_users, make_state, ops_settings
from .test_importers import LINES, _docx

pytestmark = pytest.mark.timeout(600)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"]
NEW_ID = "faq.payment.digital_rmb"
NEW_QUESTION = "可以用数字人民币付保费吗"


@pytest.fixture(scope="module")
def console(tmp_path_factory, encoder, knowledge_index):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium") and not shutil.which(CHROMIUM):
        pytest.skip("chromium not installed (apt-get install chromium)")
    settings = ops_settings(tmp_path_factory.mktemp("console"))
    state = make_state(settings, encoder=encoder, index=knowledge_index)
    add_users(state)
    with serve_app(create_app(settings, state=state), free_port()) as url:
        assert state.wait_ready(60)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
            try:
                yield url, browser, state
            finally:
                browser.close()


def login(browser, url: str, role: str, target: str = "/console"):
    page = browser.new_context().new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}{target}")
    assert "/console/login" in page.url  # anonymous: sent to the login page, then back
    page.fill("#username", f"{role}1")
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_load_state()
    return page


def ready(page) -> None:
    page.wait_for_selector("body[data-ready]")
    assert page.get_attribute("body", "data-ready") == "1"


def search_top(url: str, query: str) -> str:
    return httpx.post(f"{url}/api/knowledge/search", json={"query": query, "top_k": 3}, timeout=30).json()["hits"][0]["id"]


def test_edit_test_publish_diff_rollback(console):
    url, browser, state = console
    page = login(browser, url, "editor", "/console/faq")
    page.wait_for_url(re.compile(r"/console/faq$"))
    ready(page)
    assert page.locator("#faq-table tbody tr").count() == 49
    page.fill("#faq-q", "等待期")
    page.click("#faq-search button")
    page.wait_for_function("document.querySelectorAll('#faq-table tbody tr').length < 49")
    assert page.locator("#faq-table tbody tr[data-id='faq.product.waiting_period']").count() == 1

    # a new FAQ, saved to the draft
    page.click("#faq-new")
    ready(page)
    page.fill("#f-id", NEW_ID)
    page.fill("#f-question", NEW_QUESTION)
    page.fill("#f-similar", "能用数字人民币交保费不\n数字人民币可以买保险吗\n数币钱包能付保费吗")
    page.fill("#f-answer", "目前支持微信支付和银行卡，暂不支持数字人民币付款。")
    assert "/300" in page.inner_text("#f-count")
    page.click("#f-save")
    page.wait_for_url(re.compile(f"/console/faq/{re.escape(NEW_ID)}$"))
    ready(page)
    assert page.input_value("#f-question") == NEW_QUESTION
    assert "未发布" in page.inner_text("#kb-status")

    # the test box answers from the draft; users still get the old answer
    page.goto(f"{url}/console/test")
    ready(page)
    page.fill("#t-query", NEW_QUESTION)
    page.click("#t-ask")
    page.wait_for_selector("#t-draft .hit")
    assert page.get_attribute("#t-draft .hit.top", "data-id") == NEW_ID
    assert page.get_attribute("#t-live .hit.top", "data-id") != NEW_ID
    assert search_top(url, NEW_QUESTION) != NEW_ID

    # publish: the index is rebuilt in the background and swapped; the page reports it live
    page.goto(f"{url}/console/versions")
    ready(page)
    page.fill("#v-note", "新增数字人民币 FAQ")
    page.click("#v-publish")
    page.wait_for_function("document.getElementById('v-reload').textContent.includes('已在本服务生效')", timeout=120_000)
    assert search_top(url, NEW_QUESTION) == NEW_ID
    assert page.locator("#version-table tbody tr").first.locator(".tag.live").count() == 1

    # the diff of the newest version against its parent
    page.locator("#version-table tbody tr").first.locator("text=改动").click()
    page.wait_for_url(re.compile(r"/console/versions/diff"))
    doc = page.locator(f".diff-doc[data-key='faq/{NEW_ID}']")
    assert "新增" in doc.inner_text() and f"+标准问: {NEW_QUESTION}" in doc.inner_text()

    # roll back to the seed version (a confirm dialog first)
    page.goto(f"{url}/console/versions")
    ready(page)
    page.once("dialog", lambda d: d.accept())
    page.locator("#version-table tbody tr[data-version='1'] button.rollback").click()
    page.wait_for_function("document.getElementById('v-reload').textContent.includes('已在本服务生效')", timeout=120_000)
    assert search_top(url, NEW_QUESTION) != NEW_ID
    assert "回滚到版本 1" in page.inner_text("#version-table tbody tr >> nth=0")


def test_clause_upload_and_rate_validation(console, tmp_path):
    url, browser, _ = console
    page = login(browser, url, "editor", "/console/clauses")
    ready(page)
    assert page.locator("#clause-table tbody tr").count() == 6
    upload = tmp_path / "手机碎屏险条款.docx"
    upload.write_bytes(_docx(LINES))
    page.select_option("#c-product", "screen")
    page.fill("#c-title", "手机碎屏险条款")
    page.set_input_files("#c-file", str(upload))
    page.click("#c-import")
    page.wait_for_function("document.querySelectorAll('#chunk-table tbody tr').length === 4")
    assert "第三条 责任免除" in page.inner_text("#chunk-table")
    assert "缺少章节" in page.inner_text("#c-summary")
    page.fill("#c-source", page.input_value("#c-source").replace("第二条", "第五条"))
    page.click("#c-preview")
    page.wait_for_selector("#c-problems li")
    assert "无法分块" in page.inner_text("#c-problems")

    page.goto(f"{url}/console/rates")
    ready(page)
    page.select_option("#r-product", "typhoon")
    page.wait_for_function("document.getElementById('r-text').value.includes('product_id: typhoon')")
    page.fill("#r-text", page.input_value("#r-text").replace("premium: 15.9", "premium: -3"))
    page.click("#r-validate")
    page.wait_for_selector("#r-problems li")
    assert "positive" in page.inner_text("#r-problems")
    page.click("#r-save")
    page.wait_for_selector("#toast:not([hidden])")
    assert "未保存" in page.inner_text("#toast")


def test_unanswered_attach_in_one_click(console):
    url, browser, state = console
    for n, q in enumerate(["你们有车险吗", "车险能在这买不", "我想买个车险 电话13812345678"]):
        httpx.post(f"{url}/api/unanswered", json={"question": q, "sender_id": f"wx{n}"}, timeout=10)
    page = login(browser, url, "editor", "/console/unanswered")
    ready(page)
    group = page.locator(".group").first
    assert "[手机号]" in page.inner_text("#u-groups") and "13812345678" not in page.inner_text("#u-groups")
    assert group.locator("li").count() == 3
    group.locator(".u-target").fill("faq.product.recommend")
    group.locator(".u-attach").click()
    page.wait_for_selector("#toast:not([hidden])")
    assert "草稿" in page.inner_text("#toast")
    page.wait_for_function("document.querySelectorAll('.group').length === 0")
    draft = state.kb.document(state.kb.draft_version_id(), "faq/faq.product.recommend")
    assert "你们有车险吗" in draft


def test_viewer_sees_analytics_only_and_admin_manages_users(console):
    url, browser, _ = console
    page = login(browser, url, "viewer")
    page.wait_for_url(re.compile(r"/console/analytics$"))
    ready(page)
    assert page.locator(".kpi").count() == 8
    assert page.locator("#c-conversations svg").count() == 1 and page.locator("#c-ratings svg").count() == 1
    assert page.get_attribute("#a-csv", "href") == "/api/analytics.csv?days=30"
    assert [a.inner_text() for a in page.locator("header nav a").all()] == ["数据分析"]
    page.goto(f"{url}/console/faq")
    assert "无权访问" in page.inner_text("main")

    admin = login(browser, url, "admin", "/console/users")
    ready(admin)
    admin.fill("#n-username", "ops_new")
    admin.fill("#n-password", "a-long-password")
    admin.select_option("#n-role", "editor")
    admin.click("#n-create")
    admin.wait_for_selector("#user-table tr[data-user='ops_new']")
    admin.goto(f"{url}/console/audit")
    ready(admin)
    assert "哈希链完整" in admin.inner_text("#audit-chain") and "user.create" in admin.inner_text("#audit-table")
    admin.click("#logout")
    admin.wait_for_url(re.compile(r"/console/login"))


def test_a_contradicting_answer_is_flagged_on_save_and_refused_on_publish(console):
    """The editor sees the sentence and the fact at once; publishing is refused; users keep the old answer."""
    url, browser, state = console
    published = state.kb.published_version_id()
    page = login(browser, url, "editor", "/console/faq/faq.claim.outpatient")
    ready(page)
    wrong = "百万医疗险主要保住院，恶性肿瘤门诊放化疗等特殊门诊也视同住院，同样适用1万免赔额和等待期。"
    page.fill("#f-answer", wrong)
    page.click("#f-save")
    page.wait_for_selector("#f-problems li")
    saved = page.inner_text("#f-problems")
    assert "发布前需修改" in saved and wrong in saved and "重大疾病医疗0免赔" in saved

    page.goto(f"{url}/console/versions")
    ready(page)
    page.click("#v-publish")
    page.wait_for_selector("#v-problems li")
    refused = page.inner_text("#v-problems")
    assert wrong in refused and "medical_million.deductible.critical_illness_medical" in refused
    assert state.kb.published_version_id() == published

    # put the shipped answer back so the draft is publishable again
    seed = next(f for f in state.kb.snapshot(published).faqs if f.id == "faq.claim.outpatient")
    page.goto(f"{url}/console/faq/faq.claim.outpatient")
    ready(page)
    page.fill("#f-answer", seed.answer)
    page.click("#f-save")
    page.wait_for_function("document.getElementById('kb-status').textContent.includes('未发布')")
    assert page.locator("#f-problems li").count() == 0
    page.goto(f"{url}/console/versions")
    ready(page)
    page.click("#v-publish")
    page.wait_for_function("document.getElementById('v-reload').textContent.includes('已在本服务生效')", timeout=120_000)
    assert page.locator("#v-problems li").count() == 0 and state.kb.published_version_id() != published
