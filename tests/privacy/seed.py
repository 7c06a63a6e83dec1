"""Seed one user's records in every place that keeps personal data, and count them afterwards."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, insert, select

from handoff.store import ENDED, handoffs, messages
from ops.tables import kb_clarifications, kb_unanswered
from quotes.audit import quote_displays
from transcripts.crypto import KeyRing
from transcripts.store import TranscriptStore, Turn
from transcripts.subjects import quote_ref, subject_of, unanswered_ref
from transcripts.tables import transcript_turns
from transcripts.tracker_events import events

from .conftest import Dbs


def seed_user(dbs: Dbs, ring: KeyRing, sender: str, at: float, *, n_tracker: int = 3) -> None:
    TranscriptStore(dbs.app, ring).add([Turn(sender, "user", "我的手机13812345678", at, "rest"),
                                        Turn(sender, "bot", "收到", at + 1, None),
                                        Turn(sender, "agent", "您好，客服在", at + 2, "rest")])
    with dbs.app.begin() as conn:
        hid = conn.execute(insert(handoffs).values(
            conversation_id=sender, open_key=None, channel="rest", kind="live", reason="request_human", skill="sales",
            status=ENDED, created_at=at, queued_at=at, ended_at=at + 60, last_message_at=at + 60, card="{}",
            transcript=json.dumps([{"role": "user", "text": "转人工"}]))).inserted_primary_key[0]
        conn.execute(insert(messages), [
            {"handoff_id": hid, "role": "user", "text": "我要退保", "created_at": at + 10},
            {"handoff_id": hid, "role": "agent", "text": "好的", "created_at": at + 20}])
        conn.execute(insert(kb_unanswered).values(created_at=at, question="台风险怎么赔", sender_hash=unanswered_ref(sender),
                                                  channel="rest", reason="low_confidence", status="open"))
        conn.execute(insert(kb_clarifications).values(created_at=at, question="理赔要啥", chosen_id="faq.claim.documents",
                                                      options='["faq.claim.documents", "faq.claim.process"]',
                                                      sender_hash=unanswered_ref(sender), channel="rest", status="open"))
        conn.execute(insert(quote_displays).values(
            quote_id=f"Q-{sender}", product_id="accident", clause_version="v1", rate_version="r1", eligible=True,
            premium_cny=None, payment_mode="annual", user_ref=quote_ref(sender), user_masked="***", channel="rest",
            shown_at=dt.datetime.fromtimestamp(at, dt.timezone.utc), message="报价", facts="{}"))
    with dbs.tracker.begin() as conn:
        for i in range(n_tracker):
            kind = ("user", "bot", "action")[i % 3]
            conn.execute(insert(events).values(sender_id=sender, type_name=kind, timestamp=at + i,
                                               data=json.dumps({"event": kind, "text": "我的手机13812345678"})))


def counts(dbs: Dbs, sender: str) -> dict[str, int]:
    def n(engine, query) -> int:
        with engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)
    hids = select(handoffs.c.id).where(handoffs.c.conversation_id == sender)
    return {
        "transcript_turns": n(dbs.app, select(func.count()).select_from(transcript_turns)
                              .where(transcript_turns.c.subject == subject_of(sender))),
        "handoffs": n(dbs.app, select(func.count()).select_from(handoffs).where(handoffs.c.conversation_id == sender)),
        "handoff_messages": n(dbs.app, select(func.count()).select_from(messages)
                              .where(messages.c.handoff_id.in_(hids))),
        "unanswered": n(dbs.app, select(func.count()).select_from(kb_unanswered)
                        .where(kb_unanswered.c.sender_hash == unanswered_ref(sender))),
        "clarifications": n(dbs.app, select(func.count()).select_from(kb_clarifications)
                            .where(kb_clarifications.c.sender_hash == unanswered_ref(sender))),
        "quote_displays": n(dbs.app, select(func.count()).select_from(quote_displays)
                            .where(quote_displays.c.user_ref == quote_ref(sender))),
        "tracker_events": n(dbs.tracker, select(func.count()).select_from(events).where(events.c.sender_id == sender)),
    }


SEEDED = {"transcript_turns": 3, "handoffs": 1, "handoff_messages": 2, "unanswered": 1, "clarifications": 1,
          "quote_displays": 1,
          "tracker_events": 3}
NOTHING = {k: 0 for k in SEEDED}
