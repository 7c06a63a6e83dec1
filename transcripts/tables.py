"""Tables of the privacy features on the shared ``storage.db.metadata``, created on first use.

``transcript_turns.body`` is an SM4-GCM token (transcripts.crypto) of the masked text; the row
keeps only the subject key (transcripts.subjects), never the user id. ``uid`` makes a turn that
Rasa publishes twice land once. Core only: these run under SQLAlchemy 1.4 (Rasa) and 2.x (app).
"""
from __future__ import annotations

import threading
import weakref

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from storage.db import metadata

transcript_turns = Table(
    "transcript_turns", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(40), nullable=False, unique=True),
    Column("subject", String(32), nullable=False, index=True),
    Column("role", String(8), nullable=False),              # user | bot | agent | system
    Column("channel", String(32), nullable=True),
    Column("created_at", Float, nullable=False, index=True),
    Column("key_id", String(32), nullable=False, index=True),
    Column("body", Text, nullable=False),
)
Index("ix_transcript_turns_subject_time", transcript_turns.c.subject, transcript_turns.c.created_at)

privacy_holds = Table(
    "privacy_holds", metadata,
    Column("subject", String(32), primary_key=True),
    Column("quote_ref", String(40), nullable=False),        # quote_displays.user_ref of the same user
    Column("unanswered_ref", String(16), nullable=False),   # kb_unanswered.sender_hash of the same user
    Column("user_masked", String(40), nullable=False),      # for people: oAbc****wxYZ
    Column("reason", String(200), nullable=False),
    Column("set_by", String(64), nullable=False),
    Column("set_at", Float, nullable=False),
)

# a user's erasure time: turns of that user published before it (late, or re-published by Rasa) are dropped
privacy_erasures = Table(
    "privacy_erasures", metadata,
    Column("subject", String(32), primary_key=True),
    Column("erased_at", Float, nullable=False),
)

# one row per periodic job: the conditional UPDATE of last_run_at elects one web replica per interval
privacy_jobs = Table(
    "privacy_jobs", metadata,
    Column("name", String(32), primary_key=True),
    Column("last_run_at", Float, nullable=False),
)

PRIVACY_TABLES = (transcript_turns, privacy_holds, privacy_erasures, privacy_jobs)
_ready: "weakref.WeakKeyDictionary[Engine, set]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def ensure_tables(engine: Engine, *, with_audit: bool = False) -> None:
    """Create the privacy tables (and the audit log's, for processes other than the web service) once."""
    if with_audit in _ready.get(engine, ()):
        return
    tables = list(PRIVACY_TABLES)
    if with_audit:
        from ops.tables import kb_audit, kb_audit_head

        tables += [kb_audit, kb_audit_head]
    with _lock:
        if with_audit in _ready.get(engine, ()):
            return
        try:
            metadata.create_all(engine, tables=tables)
        except SQLAlchemyError:
            # another process created one of them between the existence check and CREATE
            metadata.create_all(engine, tables=tables)
        _ready.setdefault(engine, set()).add(with_audit)
