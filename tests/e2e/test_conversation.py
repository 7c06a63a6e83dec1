"""A talking assistant over Rasa's REST channel: small talk, knowledge, hand-off offer, bad input."""
import hashlib

import pytest

from tests.e2e.conftest import rest, tracker


def texts(replies):
    return " ".join(r.get("text", "") for r in replies)


def test_greeting_knowledge_and_goodbye(sqlite_stack):
    s = sqlite_stack.settings
    assert "保险小助手" in texts(rest(s, "e2e-u1", "你好"))
    answer = texts(rest(s, "e2e-u1", "百万医疗险等待期多久"))
    assert "《百万医疗险条款》" in answer and "30" in answer
    assert tracker(s, "e2e-u1")["slots"]["product"] == "medical_million"
    follow_up = texts(rest(s, "e2e-u1", "那免赔额呢"))
    assert "免赔" in follow_up and "《百万医疗险条款》" in follow_up
    assert texts(rest(s, "e2e-u1", "好的 拜拜"))


def test_two_unanswerable_turns_offer_then_escalate(sqlite_stack):
    s = sqlite_stack.settings
    first = texts(rest(s, "e2e-u2", "保险单上的二维码扫了没反应是怎么回事"))
    assert "无法准确回答" in first and "转人工" in first
    second = texts(rest(s, "e2e-u2", "你们的保险能抵扣个税吗"))
    assert "人工客服" in second
    assert "无法准确回答" not in second  # one reply per turn: nothing after the escalation


def test_what_we_do_not_sell_is_refused_with_the_human_offer(sqlite_stack):
    reply = texts(rest(sqlite_stack.settings, "e2e-u3", "宠物险能报销吗"))
    assert "宠物险" in reply and "转人工" in reply


@pytest.mark.parametrize("message", ["帮我订一份外卖", "明天天气怎么样", "帮我叫个车去火车站"])
def test_requests_that_are_not_insurance_never_enter_the_quote_form(sqlite_stack, message):
    sender = "e2e-ooc-" + hashlib.md5(message.encode()).hexdigest()[:12]
    reply = texts(rest(sqlite_stack.settings, sender, message))
    assert "只能解答保险相关的问题" in reply, reply
    assert (tracker(sqlite_stack.settings, sender)["active_loop"] or {}).get("name") != "quote_form"


@pytest.mark.parametrize("message", ["网约车司机意外险保什么？", "能给我老公买吗", "确诊了是不是马上就赔",
                                     "碎屏险修屏幕比保额贵 差价谁出"])
def test_questions_about_a_product_are_answered_not_quoted(sqlite_stack, message):
    sender = "e2e-pq-" + hashlib.md5(message.encode()).hexdigest()[:12]
    reply = texts(rest(sqlite_stack.settings, sender, message))
    assert "请问是给谁投保" not in reply and "哪款产品的价格" not in reply, reply
    assert (tracker(sqlite_stack.settings, sender)["active_loop"] or {}).get("name") != "quote_form"


def test_every_standard_question_through_rasa_is_answered_with_its_faq(sqlite_stack):
    import yaml

    from tests.conftest import CONTENT_DIR

    faqs = yaml.safe_load((CONTENT_DIR / "faq.yml").read_text(encoding="utf-8"))["faqs"]
    missed = []
    for n, faq in enumerate(faqs):
        reply = texts(rest(sqlite_stack.settings, f"e2e-std-{n}", faq["question"]))
        if f"常见问题《{faq['question']}》" not in reply:
            missed.append((faq["id"], faq["question"], reply[:60]))
    assert missed == []


def test_a_clarification_is_answered_by_its_number(sqlite_stack):
    import httpx

    from knowledge.training import load_dev

    s = sqlite_stack.settings
    for q in load_dev():
        body = httpx.post(f"{s.web_url}/api/knowledge/search", json={"query": q.text}, timeout=10).json()
        if q.context_product is None and body["decision"] == "clarify" and len(body["options"]) >= 2:
            break
    else:
        raise AssertionError("no dev message is clarified")
    asked = rest(s, "e2e-clarify", q.text)
    assert texts(asked).startswith("您是想问：") and any("msgmenu" in (r.get("custom") or {}) for r in asked)
    answer = texts(rest(s, "e2e-clarify", "2"))
    assert answer and "您是想问" not in answer
    assert tracker(s, "e2e-clarify")["slots"]["last_answer_id"] == body["options"][1]


def test_a_bare_product_follow_up_carries_the_question_over(sqlite_stack):
    s = sqlite_stack.settings
    rest(s, "e2e-follow", "百万医疗险等待期多久")
    reply = texts(rest(s, "e2e-follow", "那重疾险呢"))
    assert "90" in reply and ("重大疾病" in reply or "重疾" in reply), reply


@pytest.mark.parametrize("message", ["", "保" * 10000, "😀😂🙏", "hello can you help me", "\x00\x01\x1b[2J退保",
                                     "<xml>&lt;</xml>", "' OR 1=1 --"])
def test_bad_input_gets_a_sensible_reply(sqlite_stack, message):
    replies = rest(sqlite_stack.settings, "e2e-bad", message)
    # a text each, or a clarification's menu (sent beside its numbered text)
    assert replies and all(r.get("text") or "msgmenu" in (r.get("custom") or {}) for r in replies)
    assert any(r.get("text") for r in replies)
    assert sqlite_stack.dead() == []
