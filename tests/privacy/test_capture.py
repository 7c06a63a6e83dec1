"""Rasa events -> turns, and the background writer: never blocks, never raises, survives a dead database."""
from __future__ import annotations

import time

from sqlalchemy import create_engine

from storage.db import get_engine
from transcripts.capture import TurnRecorder, turn_from_event
from transcripts.store import TranscriptStore, Turn


def test_user_and_bot_events_become_turns_others_do_not():
    user = turn_from_event({"sender_id": "u1", "event": "user", "text": " 你好 ", "timestamp": 10.5,
                            "message_id": "m1", "input_channel": "wechat", "parse_data": {}})
    assert (user.sender_id, user.role, user.text, user.at, user.channel) == ("u1", "user", "你好", 10.5, "wechat")
    bot = turn_from_event({"sender_id": "u1", "event": "bot", "text": "确认删除吗？", "timestamp": 11.0,
                           "data": {"buttons": [{"title": "确认", "payload": "/affirm"},
                                                {"title": "不用了", "payload": "/deny"}]}})
    assert bot.role == "bot" and bot.text == "确认删除吗？ ［确认｜不用了］"
    custom = turn_from_event({"sender_id": "u1", "event": "bot", "text": None, "timestamp": 12.0,
                              "data": {"custom": {"wechat_text": "报价单"}}})
    assert custom.text.startswith("[custom]") and "报价单" in custom.text
    for event in ({"sender_id": "u1", "event": "action", "name": "action_listen"},
                  {"sender_id": "u1", "event": "slot", "name": "product", "value": "x"},
                  {"sender_id": "u1", "event": "user", "text": ""},
                  {"event": "user", "text": "no sender"}):
        assert turn_from_event(event) is None
    # the same event published twice has the same uid; a different one does not
    again = turn_from_event({"sender_id": "u1", "event": "user", "text": "你好", "timestamp": 10.5, "message_id": "m1"})
    assert again.uid == user.uid
    assert turn_from_event({"sender_id": "u1", "event": "user", "text": "你好", "timestamp": 10.6}).uid != user.uid


def test_recorder_writes_in_the_background(tmp_path, ring):
    engine = get_engine(f"sqlite:///{tmp_path / 'app.db'}")
    recorder = TurnRecorder(lambda: TranscriptStore(engine, ring)).start()
    try:
        for i in range(50):
            assert recorder.submit(Turn("u-bg", "user", f"消息{i}", 100.0 + i, None, f"bg-{i}"))
        assert recorder.flush(10)
        assert [t["text"] for t in TranscriptStore(engine, ring).read("u-bg")][:3] == ["消息0", "消息1", "消息2"]
        assert recorder.stored == 50 and recorder.dropped == 0
    finally:
        recorder.close()


def test_a_dead_database_never_blocks_or_breaks_the_producer(ring):
    dead = create_engine("postgresql+psycopg2://postgres@127.0.0.1:1/nothing", connect_args={"connect_timeout": 1})
    recorder = TurnRecorder(lambda: TranscriptStore(dead, ring), max_queue=100, retry_s=0.05, max_attempts=2).start()
    started = time.perf_counter()
    accepted = sum(recorder.submit(Turn("u-dead", "user", "你好", float(i))) for i in range(150))
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5                                         # 150 submits: no database work on this thread
    assert 100 <= accepted < 150 and recorder.dropped >= 150 - accepted   # bounded queue: the rest is dropped
    assert recorder.flush(20)
    assert recorder.stored == 0 and recorder.failures >= 2 and recorder.dropped == 150
    recorder.close(1)


def test_a_store_that_throws_is_retried_then_works(tmp_path, ring):
    engine = get_engine(f"sqlite:///{tmp_path / 'app.db'}")
    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionError("database starting")
        return TranscriptStore(engine, ring)
    recorder = TurnRecorder(flaky, retry_s=0.05).start()
    recorder.submit(Turn("u-flaky", "bot", "稍等", 1.0))
    assert recorder.flush(10)
    assert recorder.stored == 1 and recorder.failures == 2
    recorder.close()
