"""Erase one user's data everywhere ("删除我的聊天记录", confirmed in chat; or an admin's CLI command).

Deleted: encrypted transcripts; hand-off records with their messages and masked transcripts;
unanswered-question and clarification-choice rows carrying the user's pseudonym; proof-of-display quote records of the
user; every Rasa tracker event of the conversation. Nothing of any other user: every delete is
keyed by this user's id or one of its pseudonyms (transcripts.subjects).

A user on legal hold is not erased (the refusal is audited). Every erasure is audited with the
subject key, never the user id. An erasure marker makes late or re-published turns of this user
(older than the erasure) be dropped by the transcript writer.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Dict, Optional

from sqlalchemy import delete, inspect, select, update
from sqlalchemy.engine import Connection, Engine

from ops import audit
from ops.audit import Actor, SystemActor
from transcripts import tracker_events
from transcripts.holds import is_held
from transcripts.store import TranscriptStore
from transcripts.subjects import quote_ref, subject_of, unanswered_ref
from transcripts.tables import ensure_tables, privacy_erasures

log = logging.getLogger(__name__)

CHAT_ACTOR = SystemActor(username="data-subject", role="subject")   # the user, via action_delete_my_data


@dataclass(frozen=True)
class ErasureResult:
    subject: str
    held: bool
    counts: Dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _erase_handoffs(conn: Connection, sender_id: str, now: float) -> Dict[str, int]:
    from handoff.store import ACTIVE, agents, handoffs, messages

    rows = conn.execute(select(handoffs.c.id, handoffs.c.status, handoffs.c.agent_id)
                        .where(handoffs.c.conversation_id == sender_id)).all()
    ids = [r.id for r in rows]
    if not ids:
        return {"handoffs": 0, "handoff_messages": 0}
    for r in rows:       # a live chat being erased frees its agent's slot
        if r.status == ACTIVE and r.agent_id is not None:
            conn.execute(update(agents).where(agents.c.user_id == r.agent_id, agents.c.active_chats > 0)
                         .values(active_chats=agents.c.active_chats - 1, updated_at=now))
    n_messages = conn.execute(delete(messages).where(messages.c.handoff_id.in_(ids))).rowcount or 0
    n_handoffs = conn.execute(delete(handoffs).where(handoffs.c.id.in_(ids))).rowcount or 0
    return {"handoffs": n_handoffs, "handoff_messages": n_messages}


def erase_user(app_engine: Engine, tracker_engine: Optional[Engine], sender_id: str, *, actor: Actor,
               keep_tracker_events: Optional[int] = None, source: str = "chat",
               now: Optional[float] = None) -> ErasureResult:
    """Erase ``sender_id``'s data; ``keep_tracker_events`` when called inside the user's Rasa turn
    (see transcripts.tracker_events). Raises on database errors (the caller tells the user)."""
    if not sender_id:
        raise ValueError("sender_id is required")
    ensure_tables(app_engine, with_audit=True)
    subject = subject_of(sender_id)
    now = time.time() if now is None else now
    if is_held(app_engine, sender_id):
        audit.record(app_engine, actor, "privacy.erase.refused", f"subject:{subject}",
                     {"reason": "legal hold", "source": source})
        log.info("erasure refused: legal hold", extra={"event": "privacy.erase_refused", "subject": subject[:12]})
        return ErasureResult(subject, True)

    counts: Dict[str, int] = {"tracker_events": 0}
    if tracker_engine is not None:
        counts["tracker_events"] = tracker_events.erase_sender(tracker_engine, sender_id, keep_tracker_events, now)

    existing = set(inspect(app_engine).get_table_names())
    with app_engine.begin() as conn:
        conn.execute(delete(privacy_erasures).where(privacy_erasures.c.subject == subject))
        conn.execute(privacy_erasures.insert().values(subject=subject, erased_at=now))
        counts["transcript_turns"] = TranscriptStore.delete_subject(conn, subject)
        if "handoffs" in existing:
            counts.update(_erase_handoffs(conn, sender_id, now))
        if "kb_unanswered" in existing:
            from ops.tables import kb_unanswered

            counts["unanswered"] = conn.execute(delete(kb_unanswered).where(
                kb_unanswered.c.sender_hash == unanswered_ref(sender_id))).rowcount or 0
        if "kb_clarifications" in existing:
            from ops.tables import kb_clarifications

            counts["clarifications"] = conn.execute(delete(kb_clarifications).where(
                kb_clarifications.c.sender_hash == unanswered_ref(sender_id))).rowcount or 0
        if "quote_displays" in existing:
            from quotes.audit import quote_displays

            counts["quote_displays"] = conn.execute(delete(quote_displays).where(
                quote_displays.c.user_ref == quote_ref(sender_id))).rowcount or 0
        audit.append(conn, actor, "privacy.erase", f"subject:{subject}", {"counts": counts, "source": source})
    log.info("user data erased", extra={"event": "privacy.erased", "subject": subject[:12], **counts})
    return ErasureResult(subject, False, counts)


def erase_in_chat(sender_id: str, keep_tracker_events: int) -> ErasureResult:
    """The action server's entry point: settings from the environment, engines shared per process."""
    from common.settings import load_settings
    from storage.db import get_engine

    settings = load_settings()
    return erase_user(get_engine(settings.app_database_url), tracker_events.tracker_engine(settings.tracker_store_url),
                      sender_id, actor=CHAT_ACTOR, keep_tracker_events=keep_tracker_events, source="chat")
