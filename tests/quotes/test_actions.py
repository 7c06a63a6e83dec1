"""The Rasa actions called directly (rasa-sdk Tracker + CollectingDispatcher), as the action server would."""
import asyncio
from pathlib import Path

import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher

from actions.quote import NOT_RECORDED, ActionFetchQuote
from actions.quote_form import ActionAskCoverageCny, ActionAskInsuredAge, ActionAskProvince, ValidateQuoteForm
from common.settings import REPO_ROOT

DOMAIN = yaml.safe_load(Path(REPO_ROOT / "domain.yml").read_text(encoding="utf-8"))
ALL_SLOTS = {name: None for name in DOMAIN["slots"]}


def user(text, intent="inform", entities=()):
    return {"event": "user", "text": text, "parse_data": {"text": text, "intent": {"name": intent, "confidence": 0.9},
                                                          "entities": list(entities)}}


def form_tracker(text, *, intent="inform", slots=None, requested=None, interrupted_by=None, entities=(),
                 sender="oWxUser-1234567890"):
    """The temporary tracker Rasa sends to validate_quote_form (FormAction._temporary_tracker)."""
    events = [{"event": "action", "name": "action_listen"}, user(text, intent, entities)]
    if interrupted_by:
        events += [{"event": "action", "name": interrupted_by}, {"event": "bot", "text": "…"}]
    if requested is None:
        events.append({"event": "active_loop", "name": "quote_form"})
    events += [{"event": "slot", "name": "requested_slot", "value": requested},
               {"event": "action", "name": "quote_form"}]
    values = {**ALL_SLOTS, **(slots or {}), "requested_slot": requested}
    return Tracker(sender, values, events[1]["parse_data"], events, False, None,
                   {"name": "quote_form"}, "quote_form")


def run(action, tracker):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, DOMAIN))
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}, [m["text"] for m in dispatcher.messages]


def test_all_actions_are_registered_and_listed_in_the_domain():
    executor = ActionExecutor()
    executor.register_package("actions")
    ours = {name for name in executor.actions if name.startswith("action_ask_") or "quote" in name}
    listed = {a for a in DOMAIN["actions"] if a.startswith("action_ask_") or "quote" in a}
    assert ours == listed
    assert {f"action_ask_{s}" for s in DOMAIN["forms"]["quote_form"]["required_slots"]} <= ours


def test_one_message_fills_the_form_and_completes_it(runtime_service):
    slots, messages = run(ValidateQuoteForm(), form_tracker("我妈58岁想买百万医疗 月缴", intent="ask_quote"))
    assert slots["quote_product"] == "medical_million" and slots["insured_relation"] == "parent"
    assert slots["insured_age"] == 58 and slots["payment_mode"] == "monthly"
    assert slots["requested_slot"] is None  # nothing left to ask: the form ends and the quote is fetched
    assert messages == []


def test_missing_slots_are_asked_one_by_one(runtime_service):
    slots, _ = run(ValidateQuoteForm(), form_tracker("意外险多少钱", intent="ask_quote"))
    assert slots["quote_product"] == "accident" and slots["requested_slot"] == "insured_relation"
    slots, _ = run(ValidateQuoteForm(), form_tracker("给我自己 35岁", slots={"quote_product": "accident"},
                                                     requested="insured_relation"))
    assert slots["insured_relation"] == "self" and slots["insured_age"] == 35
    assert slots["requested_slot"] == "occupation_class"


def test_correction_mid_form_is_confirmed(runtime_service):
    filled = {"quote_product": "medical_million", "insured_relation": "parent", "insured_age": 58}
    slots, messages = run(ValidateQuoteForm(), form_tracker("不对 是60岁", slots=filled, requested="payment_mode"))
    assert slots["insured_age"] == 60 and slots["requested_slot"] == "payment_mode"
    assert messages == ["好的，已改为：60周岁"]


def test_a_question_is_not_read_as_an_answer_and_resume_reads_nothing(runtime_service):
    filled = {"quote_product": "medical_million", "insured_relation": "parent"}
    slots, _ = run(ValidateQuoteForm(), form_tracker("等待期30天是什么意思", intent="ask_question", slots=filled,
                                                     requested="insured_age"))
    assert set(slots) <= {"requested_slot"}  # nothing extracted: Rasa rejects the form, the rules answer
    slots, _ = run(ValidateQuoteForm(), form_tracker("意外险猝死赔吗", intent="ask_exclusions", slots=filled,
                                                     requested="insured_age", interrupted_by="action_answer_question"))
    assert "quote_product" not in slots  # resuming after the answer does not switch product


def test_human_requests_are_never_answers(runtime_service):
    slots, _ = run(ValidateQuoteForm(), form_tracker("转人工 我妈58岁", intent="request_human",
                                                     slots={"quote_product": "medical_million"}, requested="insured_age"))
    assert "insured_age" not in slots


def test_abandon_extracts_nothing(runtime_service):
    slots, _ = run(ValidateQuoteForm(), form_tracker("算了 不买了", intent="deny",
                                                     slots={"quote_product": "accident"}, requested="insured_age"))
    assert set(slots) <= {"requested_slot"}


def test_baby_age_in_days_survives_validation_and_refusal_ends_the_form(runtime_service):
    slots, _ = run(ValidateQuoteForm(), form_tracker("给宝宝买百万医疗 出生20天", intent="ask_quote"))
    assert slots["insured_age"] == 0 and slots["insured_age_days"] == 20
    assert slots["requested_slot"] is None  # under 28 days: refused, nothing more is asked


def test_invalid_answer_is_explained_and_asked_again(runtime_service):
    filled = {"quote_product": "accident", "insured_relation": "self", "insured_age": 30, "occupation_class": 1}
    slots, messages = run(ValidateQuoteForm(), form_tracker("20万", slots=filled, requested="coverage_cny"))
    assert slots["coverage_cny"] is None and slots["requested_slot"] == "coverage_cny"
    assert "10万 / 50万 / 100万" in messages[0]


def test_shared_location_fills_the_province(runtime_service):
    filled = {"quote_product": "typhoon", "insured_relation": "self", "insured_age": 30}
    tracker = form_tracker('/share_location{"province":"福建"}', intent="share_location", slots=filled,
                           requested="province", entities=[{"entity": "province", "value": "福建"}])
    slots, _ = run(ValidateQuoteForm(), tracker)
    assert slots["province"] == "福建" and slots["requested_slot"] == "term_months"


def test_accepting_the_alternative_quotes_it(runtime_service):
    filled = {"quote_product": "critical_illness", "insured_relation": "parent", "insured_age": 58,
              "quote_alternative": "medical_million"}
    slots, _ = run(ValidateQuoteForm(), form_tracker("好的", intent="affirm", slots=filled))
    assert slots["quote_product"] == "medical_million" and slots["quote_alternative"] is None
    assert slots["requested_slot"] == "payment_mode"


def test_ask_actions_are_product_aware(runtime_service):
    tracker = form_tracker("x", slots={"quote_product": "accident"}, requested="coverage_cny")
    _, messages = run(ActionAskCoverageCny(), tracker)
    assert messages == ["意外身故/伤残保额想选多少？可选：10万 / 50万 / 100万。"]
    _, messages = run(ActionAskInsuredAge(), form_tracker("x", slots={"quote_product": "screen"}))
    assert "机主" in messages[0]
    _, messages = run(ActionAskProvince(), form_tracker("x", slots={"quote_product": "typhoon"}))
    assert "位置" in messages[0] and "海南" in messages[0]


def fetch_tracker(slots, sender="oWxUser-1234567890"):
    events = [{"event": "action", "name": "quote_form"}, {"event": "active_loop", "name": None}]
    return Tracker(sender, {**ALL_SLOTS, **slots}, {"text": "月缴", "intent": {"name": "inform"}}, events, False,
                   None, {}, "quote_form")


def test_fetch_quote_shows_everything_required_and_records_it(runtime_service, recorder):
    slots, messages = run(ActionFetchQuote(), fetch_tracker({
        "quote_product": "accident", "insured_relation": "spouse", "insured_age": 35.0, "occupation_class": 3.0,
        "coverage_cny": 500000.0, "payment_mode": "monthly"}))
    [message] = messages
    assert "首月1元，次月起每月17.78元" in message
    assert "《综合意外险条款》第四条、第五条 责任免除" in message and "无等待期" in message
    assert "计算：" in message and "职业类别3类" in message
    assert slots["product"] == "accident" and slots["quote_alternative"] is None
    [record] = recorder.for_quote(slots["quote_id"])
    assert record["message"] == message and record["channel"] == "rasa"
    assert record["user_masked"] == "oWx***890" and "1234567890" not in record["user_ref"]


def test_fetch_quote_refuses_with_reason_and_alternative(runtime_service, recorder):
    slots, messages = run(ActionFetchQuote(), fetch_tracker({
        "quote_product": "critical_illness", "insured_relation": "parent", "insured_age": 58.0}))
    assert messages[0].startswith("抱歉") and "55周岁" in messages[0] and "百万医疗险" in messages[0]
    assert "保费" not in messages[0]
    assert slots["quote_alternative"] == "medical_million"
    [record] = recorder.for_quote(slots["quote_id"])
    assert record["eligible"] is False and record["premium_cny"] is None


def test_no_record_no_quote(runtime_service, tmp_path):
    from quotes.audit import DisplayRecorder
    from storage.db import get_engine

    runtime_service.recorder = DisplayRecorder(get_engine(f"sqlite:///{tmp_path}"))
    slots, messages = run(ActionFetchQuote(), fetch_tracker({
        "quote_product": "medical_million", "insured_relation": "self", "insured_age": 35.0, "payment_mode": "annual"}))
    assert messages == [NOT_RECORDED] and "quote_id" not in slots
