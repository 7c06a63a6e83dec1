"""Legal holds: users whose records must be kept (litigation, a regulator's request, a claim dispute).

A held user is skipped by the retention purge and their own "delete my data" request is refused
(and audited) until the hold is cleared. A hold is set with the user id (the OpenID an admin has
from the case file) and stored only as pseudonyms: the subject key plus the pseudonyms the hand-off
misses and quote records use, so the purge can recognise that user's rows everywhere. Every change
is appended to the hash-chained audit log in the same transaction.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Optional

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ops import audit
from ops.audit import Actor
from transcripts.subjects import looks_like_subject, masked_user, quote_ref, subject_of, unanswered_ref
from transcripts.tables import ensure_tables, privacy_holds


@dataclass(frozen=True)
class Hold:
    subject: str
    user_masked: str
    reason: str
    set_by: str
    set_at: float

    def as_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class HeldSet:
    """A snapshot of the holds, to test many rows cheaply."""

    subjects: FrozenSet[str]
    quote_refs: FrozenSet[str]
    unanswered_refs: FrozenSet[str]

    def has_sender(self, sender_id: str) -> bool:
        return subject_of(sender_id) in self.subjects

    def __len__(self) -> int:
        return len(self.subjects)


def _hold(row: Any) -> Hold:
    return Hold(row.subject, row.user_masked, row.reason, row.set_by, row.set_at)


def load_held(conn: Connection) -> HeldSet:
    rows = conn.execute(select(privacy_holds)).all()
    return HeldSet(frozenset(r.subject for r in rows), frozenset(r.quote_ref for r in rows),
                   frozenset(r.unanswered_ref for r in rows))


def is_held(engine: Engine, sender_id: str) -> bool:
    ensure_tables(engine, with_audit=True)
    with engine.connect() as conn:
        return conn.execute(select(privacy_holds.c.subject)
                            .where(privacy_holds.c.subject == subject_of(sender_id))).first() is not None


def set_hold(engine: Engine, sender_id: str, reason: str, actor: Actor, now: Optional[float] = None) -> Hold:
    """Put a user on hold (or change the reason of an existing hold)."""
    sender_id, reason = (sender_id or "").strip(), " ".join((reason or "").split())[:200]
    if not sender_id:
        raise ValueError("user id is required")
    if not reason:
        raise ValueError("a reason is required")
    ensure_tables(engine, with_audit=True)
    subject, at = subject_of(sender_id), time.time() if now is None else now
    values = {"quote_ref": quote_ref(sender_id), "unanswered_ref": unanswered_ref(sender_id),
              "user_masked": masked_user(sender_id), "reason": reason, "set_by": actor.username[:64],
              "set_at": at}
    for attempt in range(2):
        try:
            with engine.begin() as conn:
                changed = conn.execute(update(privacy_holds).where(privacy_holds.c.subject == subject)
                                       .values(**values)).rowcount
                if not changed:
                    conn.execute(insert(privacy_holds).values(subject=subject, **values))
                audit.append(conn, actor, "privacy.hold.set", f"subject:{subject}",
                             {"reason": reason, "user": values["user_masked"], "updated": bool(changed)})
            break
        except IntegrityError:       # set concurrently: the second pass updates it
            if attempt:
                raise
    return Hold(subject, values["user_masked"], reason, values["set_by"], at)


def clear_hold(engine: Engine, ref: str, actor: Actor) -> bool:
    """Clear a hold given the user id or the subject key (what the console lists); False if none."""
    ref = (ref or "").strip()
    if not ref:
        return False
    ensure_tables(engine, with_audit=True)
    with engine.begin() as conn:
        subjects = [ref, subject_of(ref)] if looks_like_subject(ref) else [subject_of(ref)]
        row = conn.execute(select(privacy_holds).where(privacy_holds.c.subject.in_(subjects))).first()
        if row is None:
            return False
        conn.execute(delete(privacy_holds).where(privacy_holds.c.subject == row.subject))
        audit.append(conn, actor, "privacy.hold.clear", f"subject:{row.subject}",
                     {"user": row.user_masked, "reason_was": row.reason})
    return True


def list_holds(engine: Engine) -> List[Hold]:
    ensure_tables(engine, with_audit=True)
    with engine.connect() as conn:
        return [_hold(r) for r in conn.execute(select(privacy_holds).order_by(privacy_holds.c.set_at))]
