"""Retention: delete personal records older than the retention period, except users on legal hold.

What is purged (each older than ``retention_days`` unless said otherwise):
- encrypted transcript turns (transcript_turns.created_at);
- hand-off records with their relayed messages and masked transcript: ended ones (ended_at) and
  callback tickets nobody took (last_message_at);
- unanswered-question and clarification-choice mining rows (kb_unanswered / kb_clarifications.created_at;
  masked, keyed by a sender pseudonym);
- proof-of-display quote records (quote_displays.shown_at) after ``quote_retention_days``
  (0 = never by age: they are compliance records, see docs/privacy.md);
- Rasa tracker events (events.timestamp), which hold every message in clear;
- erasure markers older than a day (they only guard the minutes after an erasure).
One audit record per run (counts, cutoff), in the hash-chained log.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any, Dict, List, Optional

from sqlalchemy import and_, delete, insert, inspect, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ops import audit
from ops.audit import SYSTEM, Actor
from transcripts import tracker_events
from transcripts.holds import HeldSet, load_held
from transcripts.tables import ensure_tables, privacy_erasures, privacy_holds, privacy_jobs, transcript_turns

log = logging.getLogger(__name__)

DAY_S = 86400.0
ERASURE_MARKER_TTL_S = DAY_S
BATCH = 500


def _has(engine: Engine, table: str) -> bool:
    return inspect(engine).has_table(table)


def _chunks(items: List[Any], size: int = BATCH):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def purge_handoffs(engine: Engine, cutoff: float, held: HeldSet) -> Dict[str, int]:
    """Ended hand-offs and stale callback tickets older than ``cutoff`` (with their messages)."""
    if not _has(engine, "handoffs"):
        return {"handoffs": 0, "handoff_messages": 0}
    from handoff.store import CALLBACK, ENDED, handoffs, messages

    with engine.connect() as conn:
        rows = conn.execute(select(handoffs.c.id, handoffs.c.conversation_id).where(or_(
            and_(handoffs.c.status == ENDED, handoffs.c.ended_at < cutoff),
            and_(handoffs.c.status == CALLBACK, handoffs.c.last_message_at < cutoff)))).all()
    ids = [r.id for r in rows if not held.has_sender(r.conversation_id)]
    counts = {"handoffs": 0, "handoff_messages": 0}
    for chunk in _chunks(ids):
        with engine.begin() as conn:
            counts["handoff_messages"] += conn.execute(delete(messages).where(messages.c.handoff_id.in_(chunk))).rowcount or 0
            counts["handoffs"] += conn.execute(delete(handoffs).where(handoffs.c.id.in_(chunk))).rowcount or 0
    return counts


def purge(app_engine: Engine, tracker_engine: Optional[Engine], *, retention_days: int,
          quote_retention_days: int = 0, actor: Actor = SYSTEM, now: Optional[float] = None) -> Dict[str, Any]:
    """Run one purge; returns the counts (also written to the audit log)."""
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    ensure_tables(app_engine, with_audit=True)
    now = time.time() if now is None else now
    cutoff = now - retention_days * DAY_S
    with app_engine.connect() as conn:
        held = load_held(conn)
    counts: Dict[str, int] = {}

    with app_engine.begin() as conn:
        counts["transcript_turns"] = conn.execute(delete(transcript_turns).where(
            transcript_turns.c.created_at < cutoff,
            transcript_turns.c.subject.not_in(select(privacy_holds.c.subject)))).rowcount or 0
        counts["erasure_markers"] = conn.execute(delete(privacy_erasures).where(
            privacy_erasures.c.erased_at < now - ERASURE_MARKER_TTL_S)).rowcount or 0

    counts.update(purge_handoffs(app_engine, cutoff, held))

    from ops.tables import kb_clarifications, kb_unanswered

    for name, table in (("unanswered", kb_unanswered), ("clarifications", kb_clarifications)):
        counts[name] = 0  # mining rows, keyed by the sender pseudonym
        if _has(app_engine, table.name):
            with app_engine.begin() as conn:
                counts[name] = conn.execute(delete(table).where(
                    table.c.created_at < cutoff,
                    table.c.sender_hash.not_in(sorted(held.unanswered_refs)))).rowcount or 0

    counts["quote_displays"] = 0
    if quote_retention_days > 0 and _has(app_engine, "quote_displays"):
        from quotes.audit import quote_displays

        quote_cutoff = dt.datetime.fromtimestamp(now - quote_retention_days * DAY_S, dt.timezone.utc)
        with app_engine.begin() as conn:
            counts["quote_displays"] = conn.execute(delete(quote_displays).where(
                quote_displays.c.shown_at < quote_cutoff,
                quote_displays.c.user_ref.not_in(sorted(held.quote_refs)))).rowcount or 0

    counts["tracker_events"] = (tracker_events.purge_before(tracker_engine, cutoff, held.has_sender)
                                if tracker_engine is not None else 0)

    detail = {"counts": counts, "retention_days": retention_days, "quote_retention_days": quote_retention_days,
              "cutoff": round(cutoff, 3), "held_users": len(held)}
    with app_engine.begin() as conn:
        audit.append(conn, actor, "privacy.purge", f"{sum(counts.values())} records", detail)
    log.info("privacy purge done", extra={"event": "privacy.purged", **counts, "held_users": len(held)})
    return detail


def claim_periodic_run(engine: Engine, name: str, interval_s: float, now: Optional[float] = None) -> bool:
    """True for exactly one caller per ``interval_s`` across processes (a conditional UPDATE)."""
    ensure_tables(engine)
    now = time.time() if now is None else now
    try:
        with engine.begin() as conn:
            if conn.execute(select(privacy_jobs.c.name).where(privacy_jobs.c.name == name)).first() is None:
                conn.execute(insert(privacy_jobs).values(name=name, last_run_at=0.0))
    except IntegrityError:
        pass    # created concurrently
    with engine.begin() as conn:
        return conn.execute(update(privacy_jobs).where(privacy_jobs.c.name == name,
                                                       privacy_jobs.c.last_run_at <= now - interval_s)
                            .values(last_run_at=now)).rowcount == 1
