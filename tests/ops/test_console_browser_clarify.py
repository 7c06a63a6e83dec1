"""The ops console in a real browser (Debian's chromium via Playwright), clarification features: the
"澄清后选定的问题" section of the unanswered page (one click adds a picked question as a similar question of
the chosen FAQ and publishes it) and the test box showing the decision (答复 / 澄清 / 拒答) and why."""
from __future__ import annotations

import json
import time

import httpx
import pytest

from ops.documents import faq_key

from .test_console_browser import console, login, ready, search_top  # noqa: F401  (the module's browser + app)

pytestmark = pytest.mark.timeout(600)
FAQ = "faq.product.waiting_period"
CLAUSE = "clause.medical_million.waiting_period"
QUESTION = "我叫张建国 买了要等多少天才开始管"
MASKED = "我叫[姓名] 买了要等多少天才开始管"


def test_clarification_choice_added_as_similar_question_in_one_click(console):  # noqa: F811
    url, browser, state = console
    options = [FAQ, CLAUSE, "faq.product.medical.coverage"]
    for n, chosen in enumerate([FAQ, FAQ, CLAUSE]):
        resp = httpx.post(f"{url}/api/clarifications", json={"question": QUESTION if chosen == FAQ else "条款的等待期",
                          "chosen_id": chosen, "options": options, "sender_id": f"wx-b{n}"}, timeout=10)
        assert resp.status_code == 202
    before = state.kb.published_version_id()
    page = login(browser, url, "editor", "/console/unanswered")
    ready(page)
    faq_group = page.locator(f".cgroup[data-chosen='{FAQ}']")
    clause_group = page.locator(f".cgroup[data-chosen='{CLAUSE}']")
    standard = json.loads(state.kb.document(before, faq_key(FAQ)))["question"]
    assert standard in faq_group.inner_text() and MASKED in faq_group.inner_text()
    assert "张建国" not in page.inner_text("#cq-groups")
    row = faq_group.locator("tr.cq")
    assert row.count() == 1 and row.locator("td").nth(1).inner_text() == "2"  # two users, one row
    assert clause_group.locator(".c-attach").count() == 0 and clause_group.locator(".c-dismiss").count() == 1
    assert "条款条目" in clause_group.inner_text()

    row.locator(".c-attach").click()
    page.wait_for_selector("#toast:not([hidden])")
    assert "并发布" in page.inner_text("#toast")
    page.wait_for_function(f"!document.querySelector(\".cgroup[data-chosen='{FAQ}']\")")
    published = state.kb.published_version_id()
    assert published != before
    assert MASKED in json.loads(state.kb.document(published, faq_key(FAQ)))["similar"]
    # published means live: this process swaps the new index in and answers with the chosen FAQ
    deadline = time.monotonic() + 120
    while state.kb_sync.live_version_id != published and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state.kb_sync.live_version_id == published
    assert search_top(url, MASKED) == FAQ

    clause_group.locator(".c-dismiss").click()
    page.wait_for_selector("#cq-empty")
    admin = httpx.Client(base_url=url, timeout=30)
    admin.post("/console/login", data={"username": "admin1", "password": "correct-horse-battery"})
    actions = [e["action"] for e in admin.get("/api/audit").json()["entries"]]
    assert {"clarification.attach", "clarification.dismiss", "kb.publish"} <= set(actions)


def test_test_box_shows_decision_and_why(console):  # noqa: F811
    url, browser, _ = console
    page = login(browser, url, "editor", "/console/test")
    ready(page)
    # the real index: a foreign product is refused, with the term named
    page.fill("#t-query", "你们卖车险吗")
    page.click("#t-ask")
    page.wait_for_selector("#t-draft .decision")
    assert page.inner_text("#t-draft .decision") == "拒答"
    assert "涉及我们不经营的：车险" in page.inner_text("#t-draft .why")
    assert "答复阈值" in page.inner_text("#t-draft .thresholds")

    # every decision the search can make, rendered from the API's fields (clarify needs the new search)
    def fake(decision, reason, **extra):
        side = {"version_id": 1, "index_version": "x", "answerable": decision == "answer", "decision": decision,
                "reason": reason, "confidence": 0.41, "thresholds": {"answer": 0.30, "clarify": 0.12},
                "options": [], "option_titles": [], "matched": None, "foreign_term": None,
                "hits": [{"id": FAQ, "score": 0.9, "citation": "FAQ", "text": "等待期"}], **extra}
        return {"draft": side, "live": side}

    cases = [
        (fake("answer", "confident"), "答复", "置信差 0.41 ≥ 答复阈值 0.30"),
        (fake("answer", "exact_match", matched="等待期多久"), "答复", "与已收录问题一致：等待期多久"),
        (fake("clarify", "clarify", confidence=0.2, top_score=0.45, options=[FAQ, CLAUSE, "faq.product.medical.coverage"],
              option_titles=["等待期是多久？", "《百万医疗险条款》等待期", None]), "澄清",
         "不确定，给出 3 个选项（置信差 0.20 < 答复阈值 0.30，最高分 0.45 ≥ 澄清阈值 0.12）"),
        (fake("refuse", "low_confidence", confidence=0.05, top_score=0.08), "拒答",
         "没有把握：置信差 0.05 < 答复阈值 0.30，最高分 0.08 < 澄清阈值 0.12"),
        (fake("refuse", "foreign_term", confidence=0.0, foreign_term="惠民保"), "拒答", "涉及我们不经营的：惠民保"),
        (fake("answer", "exclusions", confidence=0.1), "答复", "问的是这款产品哪些情况不赔"),
    ]
    for body, label, why in cases:
        payload = json.dumps(body, ensure_ascii=False)
        page.route("**/api/kb/test", lambda route, request, payload=payload: route.fulfill(
            status=200, content_type="application/json", body=payload))
        page.fill("#t-query", "随便问问")
        page.click("#t-ask")
        page.wait_for_function(f"document.querySelector('#t-live .why') && "
                               f"document.querySelector('#t-live .why').textContent.includes({json.dumps(why)})")
        assert page.inner_text("#t-draft .decision") == label
        assert why in page.inner_text("#t-draft .why")
        if label == "澄清":
            items = page.locator("#t-draft ol.options li")
            assert items.count() == 3 and items.first.get_attribute("data-id") == FAQ
            assert "等待期是多久？" in items.first.inner_text()
        else:
            assert page.locator("#t-draft ol.options").count() == 0
        page.unroute("**/api/kb/test")
