"""Operations analytics from Rasa's tracker store (SQLite var/tracker.db or PostgreSQL `events`) and the app DB.

A conversation is one user's messages on one day (Beijing time). Automation rate: conversations
without a hand-off (`action_escalate_to_agent`). Hand-off reason: what the user asked right before
(转人工, complaint, two misses...). Latency: user message -> first bot message, from tracker
timestamps. Ratings: messages classified `rate`, read as 1-5. Only aggregates leave this module.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Optional

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from transcripts.crypto import KeyRing
from transcripts.tracker_crypto import open_event_data

BEIJING = timezone(timedelta(hours=8))
ESCALATE = "action_escalate_to_agent"
ANSWER = "action_answer_question"
REASONS = {"request_human": "用户要求人工", "complaint": "投诉", "nlu_fallback": "连续未能回答",
           "ask_question": "连续未能回答", "ask_exclusions": "连续未能回答", "out_of_scope": "连续未能回答",
           "ask_quote": "投保/报价咨询", "delete_my_data": "数据删除请求"}
_CN_NUM = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_WORDS = (("非常不满意", 1), ("很不满意", 1), ("差评", 1), ("不满意", 2), ("非常满意", 5), ("很满意", 5),
          ("满分", 5), ("好评", 5), ("非常好", 5), ("很好", 5), ("满意", 4), ("不错", 4), ("一般", 3), ("还行", 3))


def day_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, BEIJING).strftime("%Y-%m-%d")


def parse_rating(message: str) -> Optional[int]:
    """1-5 from what users type to rate (5分, 打4星, 五星好评, ⭐⭐⭐, 满意)."""
    stars = message.count("⭐")
    if 1 <= stars <= 5:
        return stars
    m = re.search(r"([1-5])\s*(分|星|颗星)?", message)
    if m and not re.search(r"\d{2,}", message):
        return int(m.group(1))
    m = re.search(r"([一二两三四五])\s*(分|星|颗星)", message)
    if m:
        return _CN_NUM[m.group(1)]
    for word, score in _WORDS:
        if word in message:
            return score
    return None


def percentile(values: list[float], q: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def read_events(tracker_engine: Engine, since: float, keyring: Optional[KeyRing] = None) -> list[tuple]:
    """(sender_id, type, timestamp, intent, action, data) ordered by sender and time; [] without a tracker store.

    ``data`` is decrypted (the tracker store seals it, transcripts.tracker_crypto); a row that does not
    decrypt (modified, or under a key no longer configured) keeps its columns with ``data`` None.
    """
    try:
        if not inspect(tracker_engine).has_table("events"):
            return []
        with tracker_engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT sender_id, type_name, timestamp, intent_name, action_name, data FROM events "
                "WHERE timestamp >= :since AND type_name IN ('user', 'bot', 'action', 'slot') "
                "ORDER BY sender_id, timestamp, id"), {"since": since}).all()
    except Exception:
        return []
    return [(*r[:5], _opened(keyring, r[0], r[5])) for r in rows]


def _opened(keyring: Optional[KeyRing], sender_id: str, data: Optional[str]) -> Optional[str]:
    try:
        return open_event_data(keyring, sender_id, data)
    except ValueError:          # DecryptionError included
        return None


def compute(events: Iterable[tuple], unanswered_per_day: dict[str, int], days: int,
            now: Optional[float] = None) -> dict[str, Any]:
    """Every metric of the analytics page, per day and in total."""
    now = now or time.time()
    day_list = [day_of(now - 86400 * i) for i in range(days - 1, -1, -1)]
    convs: dict[str, set] = defaultdict(set)          # day -> {sender}
    escalated: dict[str, set] = defaultdict(set)      # day -> {sender}
    messages: Counter = Counter()
    reasons: Counter = Counter()
    top_answers: Counter = Counter()
    latencies: dict[str, list[float]] = defaultdict(list)
    ratings: dict[str, list[int]] = defaultdict(list)
    last_sender = None
    pending_user_ts: Optional[float] = None
    last_intent: Optional[str] = None
    answer_misses = 0
    for sender, kind, ts, intent, action, data in events:
        if sender != last_sender:
            last_sender, pending_user_ts, last_intent, answer_misses = sender, None, None, 0
        day = day_of(ts)
        if kind == "user":
            convs[day].add(sender)
            messages[day] += 1
            pending_user_ts, last_intent = ts, intent
            if intent == "rate":
                try:
                    score = parse_rating(json.loads(data or "{}").get("text") or "")
                except ValueError:
                    score = None
                if score is not None:
                    ratings[day].append(score)
        elif kind == "bot":
            if pending_user_ts is not None:
                latencies[day].append((ts - pending_user_ts) * 1000.0)
                pending_user_ts = None
        elif kind == "action" and action == ESCALATE:
            escalated[day].add(sender)
            reason = REASONS.get(last_intent or "", "其他")
            if answer_misses >= 1 and reason == "其他":
                reason = "连续未能回答"
            reasons[reason] += 1
        elif kind == "slot":
            try:
                slot = json.loads(data or "{}")
            except ValueError:
                continue
            if slot.get("name") == "last_answer_id" and slot.get("value"):
                top_answers[str(slot["value"])] += 1
            elif slot.get("name") == "knowledge_misses":
                answer_misses = int(float(slot.get("value") or 0))

    daily = []
    for day in day_list:
        n = len(convs.get(day, ()))
        h = len(escalated.get(day, ()) & convs.get(day, set())) if n else 0
        lat = latencies.get(day, [])
        rs = ratings.get(day, [])
        daily.append({"date": day, "conversations": n, "messages": messages.get(day, 0), "handoffs": h,
                      "automation_rate": round((n - h) / n, 4) if n else None,
                      "handoff_rate": round(h / n, 4) if n else None,
                      "unanswered": unanswered_per_day.get(day, 0),
                      "latency_p50_ms": _round(percentile(lat, 0.5)), "latency_p95_ms": _round(percentile(lat, 0.95)),
                      "ratings": len(rs), "rating_avg": round(sum(rs) / len(rs), 2) if rs else None})
    in_range = set(day_list)
    all_lat = [v for d, vs in latencies.items() if d in in_range for v in vs]
    all_ratings = [v for d, vs in ratings.items() if d in in_range for v in vs]
    total_convs = sum(d["conversations"] for d in daily)
    total_handoffs = sum(d["handoffs"] for d in daily)
    return {
        "days": days, "from": day_list[0], "to": day_list[-1], "daily": daily,
        "totals": {
            "conversations": total_convs, "messages": sum(d["messages"] for d in daily), "handoffs": total_handoffs,
            "automation_rate": round((total_convs - total_handoffs) / total_convs, 4) if total_convs else None,
            "handoff_rate": round(total_handoffs / total_convs, 4) if total_convs else None,
            "unanswered": sum(d["unanswered"] for d in daily),
            "latency_p50_ms": _round(percentile(all_lat, 0.5)), "latency_p95_ms": _round(percentile(all_lat, 0.95)),
            "ratings": len(all_ratings),
            "rating_avg": round(sum(all_ratings) / len(all_ratings), 2) if all_ratings else None,
        },
        "handoff_reasons": [{"reason": r, "count": c} for r, c in reasons.most_common()],
        "top_answers": [{"id": i, "count": c} for i, c in top_answers.most_common(15)],
        "rating_distribution": [{"score": s, "count": sum(1 for v in all_ratings if v == s)} for s in range(1, 6)],
    }


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 1)


def report(tracker_engine: Engine, app_engine: Engine, days: int = 30, now: Optional[float] = None,
           keyring: Optional[KeyRing] = None) -> dict[str, Any]:
    from ops.unanswered import daily_counts

    now = now or time.time()
    start_of_first_day = datetime.fromtimestamp(now, BEIJING).replace(hour=0, minute=0, second=0, microsecond=0) \
        - timedelta(days=days - 1)
    since = start_of_first_day.timestamp()
    return compute(read_events(tracker_engine, since, keyring), daily_counts(app_engine, since), days, now)


CSV_COLUMNS = ("date", "conversations", "messages", "handoffs", "automation_rate", "handoff_rate", "unanswered",
               "latency_p50_ms", "latency_p95_ms", "ratings", "rating_avg")


def to_csv(data: dict[str, Any]) -> str:
    """Daily metrics, then the hand-off reasons and top answers as further sections."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in data["daily"]:
        writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
    writer.writerow([])
    writer.writerow(["handoff_reason", "count"])
    for row in data["handoff_reasons"]:
        writer.writerow([row["reason"], row["count"]])
    writer.writerow([])
    writer.writerow(["answer_id", "count"])
    for row in data["top_answers"]:
        writer.writerow([row["id"], row["count"]])
    return out.getvalue()
