"""Write, read, delete and re-encrypt transcript turns (masked, then SM4-GCM encrypted).

Each row's token is bound to the row by its associated data (uid, subject, role), so a token
copied onto another row or another user fails authentication like a modified one. Core only
(``engine.begin()``, ``select``/``insert``/``delete``): the Rasa process runs this on SQLAlchemy 1.4.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from common.masking import mask_text
from transcripts.crypto import DecryptionError, KeyRing
from transcripts.subjects import subject_of
from transcripts.tables import ensure_tables, privacy_erasures, transcript_turns

log = logging.getLogger(__name__)

ROLES = ("user", "bot", "agent", "system")
MAX_TEXT_CHARS = 20_000


@dataclass(frozen=True)
class Turn:
    """One message of a conversation, before masking and encryption."""

    sender_id: str
    role: str
    text: str
    at: float
    channel: Optional[str] = None
    uid: Optional[str] = None          # stable for a re-published event (dedupe); random when None


def turn_uid(*parts: str) -> str:
    """A dedupe key from an event's identity (never from its text)."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:40]


def _aad(uid: str, subject: str, role: str) -> bytes:
    return f"{uid}\x1f{subject}\x1f{role}".encode("utf-8")


@dataclass(frozen=True)
class RotationReport:
    active_key: str
    rotated: int
    failed: int
    remaining: int

    def as_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


class TranscriptStore:
    """All reads and writes of ``transcript_turns``."""

    def __init__(self, engine: Engine, keyring: KeyRing, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.keyring = keyring
        self.clock = clock

    # ---- writing ---------------------------------------------------------------------------
    def _row(self, turn: Turn) -> Dict[str, Any]:
        if turn.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        subject = subject_of(turn.sender_id)
        uid = turn.uid or secrets.token_hex(20)
        text = mask_text(turn.text or "")[:MAX_TEXT_CHARS]          # masked BEFORE encryption
        return {"uid": uid, "subject": subject, "role": turn.role, "channel": (turn.channel or None) and turn.channel[:32],
                "created_at": float(turn.at), "key_id": self.keyring.active_id,
                "body": self.keyring.encrypt(text, _aad(uid, subject, turn.role))}

    def add(self, turns: Sequence[Turn]) -> int:
        """Store the turns not stored yet (by uid) and not older than their user's erasure; returns how many."""
        if not turns:
            return 0
        ensure_tables(self.engine)
        rows = [self._row(t) for t in turns]
        with self.engine.begin() as conn:
            erased = {r.subject: r.erased_at for r in conn.execute(
                select(privacy_erasures).where(privacy_erasures.c.subject.in_(sorted({r["subject"] for r in rows}))))}
            known = {r.uid for r in conn.execute(
                select(transcript_turns.c.uid).where(transcript_turns.c.uid.in_([r["uid"] for r in rows])))}
            fresh: List[Dict[str, Any]] = []
            for row in rows:
                if row["uid"] in known or row["created_at"] <= erased.get(row["subject"], float("-inf")):
                    continue
                known.add(row["uid"])
                fresh.append(row)
        if not fresh:
            return 0
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(transcript_turns), fresh)
            return len(fresh)
        except IntegrityError:          # a concurrent writer stored one of them: one by one
            stored = 0
            for row in fresh:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(insert(transcript_turns).values(**row))
                    stored += 1
                except IntegrityError:
                    pass
            return stored

    # ---- reading ---------------------------------------------------------------------------
    def read(self, sender_id: str) -> List[Dict[str, Any]]:
        """A user's turns, decrypted, oldest first. A row that fails authentication raises DecryptionError."""
        ensure_tables(self.engine)
        subject = subject_of(sender_id)
        with self.engine.connect() as conn:
            rows = conn.execute(select(transcript_turns).where(transcript_turns.c.subject == subject)
                                .order_by(transcript_turns.c.created_at, transcript_turns.c.id)).all()
        return [{"role": r.role, "text": self.decrypt_row(r), "at": r.created_at, "channel": r.channel,
                 "key_id": r.key_id} for r in rows]

    def decrypt_row(self, row: Any) -> str:
        return self.keyring.decrypt(row.body, _aad(row.uid, row.subject, row.role))

    def count(self, subject: Optional[str] = None) -> int:
        ensure_tables(self.engine)
        query = select(func.count()).select_from(transcript_turns)
        if subject is not None:
            query = query.where(transcript_turns.c.subject == subject)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def key_usage(self) -> Dict[str, int]:
        """Rows per key id (what rotation still has to move)."""
        ensure_tables(self.engine)
        with self.engine.connect() as conn:
            return {r[0]: int(r[1]) for r in conn.execute(
                select(transcript_turns.c.key_id, func.count()).group_by(transcript_turns.c.key_id))}

    # ---- deleting --------------------------------------------------------------------------
    @staticmethod
    def delete_subject(conn: Connection, subject: str) -> int:
        """Delete one user's turns inside the caller's transaction."""
        return conn.execute(delete(transcript_turns).where(transcript_turns.c.subject == subject)).rowcount or 0

    # ---- key rotation ----------------------------------------------------------------------
    def rotate(self, batch_size: int = 500, on_batch: Optional[Callable[[int, int], None]] = None) -> RotationReport:
        """Re-encrypt every row not under the active key, one committed batch at a time.

        Idempotent and resumable: a row is updated only if it still has the key it was read with
        (``WHERE id = ? AND key_id = ?``), and rows already under the active key are never selected,
        so an interrupted run simply continues. Rows that cannot be decrypted (unknown key, tampered)
        are counted, logged by id and left as they are.
        """
        ensure_tables(self.engine)
        active = self.keyring.active_id
        rotated = failed = 0
        last_id = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(select(transcript_turns).where(transcript_turns.c.key_id != active,
                                                                   transcript_turns.c.id > last_id)
                                    .order_by(transcript_turns.c.id).limit(batch_size)).all()
            if not rows:
                break
            last_id = rows[-1].id
            with self.engine.begin() as conn:
                for row in rows:
                    try:
                        plain = self.decrypt_row(row)
                    except DecryptionError as exc:
                        failed += 1
                        log.error("transcript row not rotated", extra={"event": "transcripts.rotate_failed",
                                                                       "row": row.id, "key_id": row.key_id,
                                                                       "error": str(exc)})
                        continue
                    token = self.keyring.encrypt(plain, _aad(row.uid, row.subject, row.role))
                    rotated += conn.execute(update(transcript_turns).where(
                        transcript_turns.c.id == row.id, transcript_turns.c.key_id == row.key_id)
                        .values(key_id=active, body=token)).rowcount or 0
            if on_batch is not None:
                on_batch(rotated, failed)
        with self.engine.connect() as conn:
            remaining = int(conn.execute(select(func.count()).select_from(transcript_turns)
                                         .where(transcript_turns.c.key_id != active)).scalar() or 0)
        return RotationReport(active, rotated, failed, remaining)
