"""action_answer_question with rasa-sdk's CollectingDispatcher and Tracker, against the real web service."""
import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerQuestion, format_answer


def make_tracker(text: str, intent: str = "ask_question", **slots) -> Tracker:
    return Tracker(sender_id="test-user", slots={"product": None, "knowledge_misses": 0.0, **slots},
                   latest_message={"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []},
                   events=[], paused=False, followup_action=None, active_loop={}, latest_action_name="action_listen")


def run(tracker: Tracker):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionAnswerQuestion().run(dispatcher, tracker, {}))
    return dispatcher.messages, events


@pytest.fixture(autouse=True)
def _web(monkeypatch, web_app_url):
    monkeypatch.setenv("WEB_URL", web_app_url)


def slot(events, name):
    values = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name]
    return values[-1] if values else None


def test_faq_answer_with_source_and_reset_misses():
    messages, events = run(make_tracker("理赔要准备哪些材料", knowledge_misses=1.0))
    assert "发票" in messages[0]["text"] and "病历" in messages[0]["text"]
    assert "常见问题《理赔需要准备哪些材料？》" in messages[0]["text"]
    assert slot(events, "knowledge_misses") == 0.0
    assert slot(events, "last_answer_id") == "faq.claim.documents"


def test_clause_answer_cites_the_article_and_remembers_the_product():
    messages, events = run(make_tracker("百万医疗险等待期多久"))
    assert messages[0]["text"].startswith("根据《百万医疗险条款》第")
    assert "30日" in messages[0]["text"]
    assert slot(events, "product") == "medical_million"


def test_product_from_earlier_turns_counts():
    messages, _ = run(make_tracker("那等待期呢", product="critical_illness"))
    assert "《重大疾病保险条款》" in messages[0]["text"] and "90" in messages[0]["text"]


def test_unanswerable_says_so_and_offers_a_human_then_escalates_on_the_second_miss():
    messages, events = run(make_tracker("交强险多少钱一年", intent="out_of_scope"))
    assert "无法准确回答" in messages[0]["text"] and "转人工" in messages[0]["text"]
    assert slot(events, "knowledge_misses") == 1.0
    messages, events = run(make_tracker("车险怎么续保啊", intent="out_of_scope", knowledge_misses=1.0))
    assert FollowupAction("action_escalate_to_agent") in events
    assert "人工客服" in messages[0]["text"]


@pytest.mark.parametrize("text", ["", "😀😀😀", "   ", "/restart"])
def test_non_questions_get_a_prompt_not_a_search(text):
    messages, events = run(make_tracker(text))
    assert "没太看懂" in messages[0]["text"]
    assert events == []


def test_knowledge_service_down_is_polite(monkeypatch):
    monkeypatch.setenv("WEB_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    messages, events = run(make_tracker("犹豫期多久"))
    assert "暂时无法访问" in messages[0]["text"] and "转人工" in messages[0]["text"]
    assert SlotSet("knowledge_misses", 1.0) in events


def test_clause_excerpt_does_not_repeat_the_article_label():
    text = format_answer({"kind": "clause", "citation": "《百万医疗险条款》第六条 等待期", "text": "第六条 自本合同生效之日起30日为等待期。"})
    assert text.count("第六条") == 1
