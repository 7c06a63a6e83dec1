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


UNKNOWN = ("保险单上的二维码扫了没反应是怎么回事", "你们的保险能抵扣个税吗")


def test_unanswerable_says_so_and_offers_a_human_then_escalates_on_the_second_miss():
    messages, events = run(make_tracker(UNKNOWN[0]))
    assert "无法准确回答" in messages[0]["text"] and "转人工" in messages[0]["text"]
    assert slot(events, "knowledge_misses") == 1.0
    messages, events = run(make_tracker(UNKNOWN[1], knowledge_misses=1.0))
    assert FollowupAction("action_escalate_to_agent") in events
    assert len(messages) == 1 and "人工客服" in messages[0]["text"]  # one reply: the escalation says the rest


@pytest.mark.parametrize("text,term", [("交强险多少钱一年", "交强险"), ("拼多多运费险怎么理赔", "运费险"),
                                       ("医保卡丢了怎么补办", "医保卡")])
def test_what_we_do_not_handle_is_refused_with_the_human_offer_and_no_escalation(text, term):
    messages, events = run(make_tracker(text, knowledge_misses=1.0))
    assert len(messages) == 1 and term in messages[0]["text"] and "转人工" in messages[0]["text"]
    assert FollowupAction("action_escalate_to_agent") not in events


def test_a_message_the_nlu_finds_is_not_about_insurance_gets_no_insurance_answer():
    messages, events = run(make_tracker("明天会下台风吗 学校停课不", intent="out_of_scope"))
    assert len(messages) == 1 and "只能解答保险相关的问题" in messages[0]["text"]
    assert slot(events, "last_answer_id") is None


def clarifying_question(web_app_url: str) -> tuple[str, dict]:
    """A dev-set message the shipped model is unsure about (whatever the current model is)."""
    import httpx

    from knowledge.training import load_dev

    for q in load_dev():
        if q.context_product:
            continue
        body = httpx.post(f"{web_app_url}/api/knowledge/search", json={"query": q.text}, timeout=10).json()
        if body["decision"] == "clarify" and len(body["options"]) >= 2:
            return q.text, body
    raise AssertionError("no dev message is clarified")


def test_an_uncertain_question_is_asked_back_and_a_number_picks_the_option_without_a_search(web_app_url, monkeypatch):
    text, body = clarifying_question(web_app_url)
    messages, events = run(make_tracker(text))
    assert len(messages) == 1 and messages[0]["text"].startswith("您是想问：\n1. ")
    assert messages[0]["custom"]["msgmenu"]["list"] == [{"id": c["id"], "content": c["label"]} for c in body["choices"]]
    options = slot(events, "clarify_options")
    assert [o["id"] for o in options] == body["options"] and slot(events, "clarify_pending") is True
    monkeypatch.setenv("WEB_URL", "http://127.0.0.1:9")  # the choice must not need the knowledge service
    messages, events = run(make_tracker("2", intent="rate", clarify_options=options, clarify_pending=True,
                                        clarify_question=text))
    assert slot(events, "last_answer_id") == options[1]["hit"]["id"]
    assert "暂时无法访问" not in messages[0]["text"]
    assert slot(events, "clarify_pending") is False and slot(events, "clarify_options") is None


def test_an_option_is_picked_by_its_text_or_by_a_menu_tap(web_app_url):
    text, body = clarifying_question(web_app_url)
    _, events = run(make_tracker(text))
    options = slot(events, "clarify_options")
    by_text = make_tracker(options[0]["label"] + "？", clarify_options=options, clarify_pending=True)
    assert slot(run(by_text)[1], "last_answer_id") == options[0]["hit"]["id"]
    tapped = make_tracker(options[1]["label"], clarify_options=options, clarify_pending=True)
    tapped.latest_message["metadata"] = {"menu_id": options[1]["id"]}
    assert slot(run(tapped)[1], "last_answer_id") == options[1]["hit"]["id"]


def test_none_of_the_options_asks_for_a_rephrase_and_anything_else_is_a_new_question(web_app_url):
    text, _ = clarifying_question(web_app_url)
    _, events = run(make_tracker(text))
    options = slot(events, "clarify_options")
    messages, events = run(make_tracker("都不是", intent="deny", clarify_options=options, clarify_pending=True))
    assert "换个说法" in messages[0]["text"] and slot(events, "clarify_pending") is False
    messages, events = run(make_tracker("理赔要准备哪些材料", clarify_options=options, clarify_pending=True))
    assert slot(events, "last_answer_id") == "faq.claim.documents"


def test_a_bare_product_follow_up_asks_the_previous_question_of_that_product():
    _, events = run(make_tracker("百万医疗险等待期多久"))
    assert slot(events, "last_question") == "百万医疗险等待期多久"
    messages, events = run(make_tracker("那重疾险呢", product="medical_million", last_question="百万医疗险等待期多久"))
    assert "90" in messages[0]["text"] and slot(events, "product") == "critical_illness"


def test_an_faq_answer_cites_the_clause_article_behind_it():
    messages, _ = run(make_tracker("百万医疗险保什么"))
    assert "常见问题《百万医疗险保什么？》" in messages[0]["text"] and "条款依据：《百万医疗险条款》" in messages[0]["text"]


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


OPTIONS = [{"id": "faq.claim.process", "label": "怎么申请理赔？", "hit": {"id": "faq.claim.process"}},
           {"id": "faq.claim.documents", "label": "理赔需要准备哪些材料？", "hit": {"id": "faq.claim.documents"}}]


@pytest.mark.parametrize("reply,picked", [("1", 0), ("２", 1), ("第二个", 1), ("选1吧", 0), ("③", None),
                                         ("怎么申请理赔", 0), ("理赔需要准备哪些材料？", 1), ("嗯", None)])
def test_a_reply_picks_an_option_by_number_or_text(reply, picked):
    from actions.answer import pick_option

    chosen = pick_option(reply, None, OPTIONS)
    assert (OPTIONS.index(chosen) if chosen else None) == picked


def test_a_yes_picks_a_single_option_and_a_tap_its_id():
    from actions.answer import pick_option

    assert pick_option("是的", None, OPTIONS[:1]) is OPTIONS[0]
    assert pick_option("随便写的", "faq.claim.documents", OPTIONS) is OPTIONS[1]
    assert pick_option("随便写的", "faq.unknown", OPTIONS) is None


def test_a_number_beyond_the_options_asks_again_and_keeps_them():
    messages, events = run(make_tracker("3", intent="rate", clarify_options=OPTIONS, clarify_pending=True))
    assert "1 到 2" in messages[0]["text"] and events == []


def test_options_of_an_earlier_turn_are_not_picked():
    tracker = make_tracker("1", intent="rate", clarify_options=OPTIONS, clarify_pending=True)
    tracker.events = [{"event": "action", "name": "action_answer_question"}, {"event": "user", "text": "多少钱"},
                      {"event": "action", "name": "quote_form"}, {"event": "user", "text": "1"}]
    _, events = run(tracker)
    assert slot(events, "last_answer_id") != "faq.claim.process"
    assert slot(events, "clarify_pending") is False
