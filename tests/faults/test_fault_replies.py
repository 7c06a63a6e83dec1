"""The apology for failed custom actions and the replay of a turn that already ran (Rasa-free parts)."""
from __future__ import annotations

from connectors.fault_replies import (REPLY_ACTION_FAILED, REPLY_HANDOFF_UNAVAILABLE, apology_for,
                                      replayed_messages)


def test_apology_offers_a_human_unless_the_handoff_itself_failed():
    assert apology_for(["action_answer_question"]) == REPLY_ACTION_FAILED and "转人工" in REPLY_ACTION_FAILED
    assert apology_for(["quote_form", "action_escalate_to_agent"]) == REPLY_HANDOFF_UNAVAILABLE
    assert "抱歉" in REPLY_HANDOFF_UNAVAILABLE


EVENTS = [
    {"event": "action", "name": "action_session_start"},
    {"event": "user", "text": "你好", "message_id": "wx:gh:m:1"},
    {"event": "bot", "text": "您好！", "data": {"buttons": None}},
    {"event": "action", "name": "action_listen"},
    {"event": "user", "text": "等待期", "message_id": "wx:gh:m:2"},
    {"event": "action", "name": "action_answer_question"},
    {"event": "bot", "text": "30天", "data": {"custom": {"citation": "第五条"}}},
    {"event": "bot", "text": None, "data": {"image": "https://example.com/a.png"}},
    {"event": "slot", "name": "product", "value": "medical_million"},
    {"event": "user", "text": "谢谢", "message_id": "wx:gh:m:3"},
    {"event": "bot", "text": "不客气", "data": {}},
]


def test_replay_returns_the_bot_messages_of_that_turn_only():
    assert replayed_messages(EVENTS, "wx:gh:m:2") == [{"text": "30天", "custom": {"citation": "第五条"}},
                                                       {"image": "https://example.com/a.png"}]
    assert replayed_messages(EVENTS, "wx:gh:m:1") == [{"text": "您好！"}]
    assert replayed_messages(EVENTS, "wx:gh:m:9") is None           # never ran: run it now
    assert replayed_messages(EVENTS, "") is None


def test_a_turn_that_said_nothing_replays_as_silence():
    events = [{"event": "user", "text": "…", "message_id": "k"}, {"event": "action", "name": "action_listen"}]
    assert replayed_messages(events, "k") == []
