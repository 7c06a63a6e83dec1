"""Analytics from a tracker store with Rasa's `events` schema and the app DB; charts' data and CSV."""
from __future__ import annotations

import csv
import io
import json
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from ops import analytics, unanswered
from web.auth import SESSION_COOKIE
from web.main import create_app

from .conftest import add_users

DAY = 86400


def _events_table(engine) -> None:
    with engine.begin() as conn:  # the columns of rasa.core.tracker_store.SQLTrackerStore.SQLEvent
        conn.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, sender_id VARCHAR(255) NOT NULL, "
                          "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
                          "action_name VARCHAR(255), data TEXT)"))


def _conversation(engine, sender: str, start: float, turns: list[tuple]) -> None:
    """turns: ("user", intent, text, latency_s) | ("action", name) | ("slot", name, value)."""
    t = start
    rows = []
    for turn in turns:
        if turn[0] == "user":
            _, intent, msg, latency = turn
            rows.append((sender, "user", t, intent, None, json.dumps({"event": "user", "text": msg})))
            rows.append((sender, "bot", t + latency, None, None, json.dumps({"event": "bot", "text": "…"})))
            t += latency + 5
        elif turn[0] == "action":
            rows.append((sender, "action", t, None, turn[1], "{}"))
        else:
            rows.append((sender, "slot", t, None, None, json.dumps({"event": "slot", "name": turn[1], "value": turn[2]})))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) "
                          "VALUES (:s, :k, :t, :i, :a, :d)"),
                     [dict(zip("sktiad", r)) for r in rows])


@pytest.mark.parametrize("message, score", [("5分", 5), ("打4星", 4), ("五星好评", 5), ("⭐⭐⭐", 3), ("很差1分", 1),
                                            ("一般吧给3分", 3), ("满意", 4), ("非常不满意", 1), ("哈哈", None)])
def test_parse_rating(message, score):
    assert analytics.parse_rating(message) == score


def test_report_and_csv(settings, state):
    now = time.time()
    tracker = create_engine(f"sqlite:///{settings.var_dir / 'tracker.db'}")
    _events_table(tracker)
    # within Beijing's today (the report's days are Beijing dates), whatever the hour the test runs at
    since_midnight = (now + 8 * 3600) % DAY
    today = now - min(3600, since_midnight / 2)
    yesterday = today - DAY
    _conversation(tracker, "a", today, [("user", "ask_question", "等待期多久", 0.2),
                                        ("slot", "last_answer_id", "faq.product.waiting_period"),
                                        ("user", "rate", "5分", 0.1)])
    _conversation(tracker, "b", today, [("user", "ask_question", "怎么理赔", 0.4), ("slot", "last_answer_id", "faq.claim.process"),
                                        ("user", "request_human", "转人工", 0.3), ("action", "action_escalate_to_agent")])
    _conversation(tracker, "c", yesterday, [("user", "nlu_fallback", "车险", 0.6), ("slot", "knowledge_misses", 1.0),
                                            ("user", "nlu_fallback", "车险呢", 0.8), ("action", "action_escalate_to_agent"),
                                            ("user", "rate", "2分", 0.1)])
    _conversation(tracker, "d", yesterday, [("user", "ask_question", "等待期", 1.0),
                                            ("slot", "last_answer_id", "faq.product.waiting_period")])
    _conversation(tracker, "old", now - 40 * DAY, [("user", "greet", "你好", 0.1)])  # outside the window
    unanswered.record(state.engine, "车险", at=yesterday)
    unanswered.record(state.engine, "车险呢", at=yesterday)

    data = analytics.report(tracker, state.engine, days=7, now=now)
    t = data["totals"]
    assert (t["conversations"], t["handoffs"], t["automation_rate"], t["handoff_rate"]) == (4, 2, 0.5, 0.5)
    assert t["messages"] == 8 and t["unanswered"] == 2
    assert t["ratings"] == 2 and t["rating_avg"] == 3.5
    assert t["latency_p50_ms"] == pytest.approx(350, abs=1) and t["latency_p95_ms"] == pytest.approx(930, abs=1)
    assert sorted((r["reason"], r["count"]) for r in data["handoff_reasons"]) == [("用户要求人工", 1), ("连续未能回答", 1)]
    assert data["top_answers"][0] == {"id": "faq.product.waiting_period", "count": 2}
    assert len(data["daily"]) == 7 and data["daily"][-1]["conversations"] == 2
    rows = list(csv.reader(io.StringIO(analytics.to_csv(data))))
    assert rows[0][:3] == ["date", "conversations", "messages"] and len([r for r in rows[1:8]]) == 7
    assert ["faq.product.waiting_period", "2"] in rows

    # the page's API and the CSV download, for a viewer
    tokens = add_users(state)
    client = TestClient(create_app(settings, state=state))
    client.cookies.set(SESSION_COOKIE, tokens["viewer"])
    assert client.get("/api/analytics?days=7").json()["totals"]["conversations"] == 4
    resp = client.get("/api/analytics.csv?days=7")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"] and resp.text.lstrip("\ufeff").startswith("date,")


def test_no_tracker_store_yet(state):
    empty = create_engine(f"sqlite:///{state.settings.var_dir / 'none.db'}")
    data = analytics.report(empty, state.engine, days=3)
    assert data["totals"]["conversations"] == 0 and data["totals"]["automation_rate"] is None
