"""A talking assistant over Rasa's REST channel: small talk, knowledge, hand-off offer, bad input."""
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
    first = texts(rest(s, "e2e-u2", "宠物险能报销吗"))
    assert "无法准确回答" in first and "转人工" in first
    second = texts(rest(s, "e2e-u2", "航班延误险怎么理赔"))
    assert "人工客服" in second


@pytest.mark.parametrize("message", ["", "保" * 10000, "😀😂🙏", "hello can you help me", "\x00\x01\x1b[2J退保",
                                     "<xml>&lt;</xml>", "' OR 1=1 --"])
def test_bad_input_gets_a_sensible_reply(sqlite_stack, message):
    replies = rest(sqlite_stack.settings, "e2e-bad", message)
    assert replies and all(r.get("text") for r in replies)
    assert sqlite_stack.dead() == []
