"""Append-only, hash-chained audit log of every editor/admin action.

`append()` runs inside the caller's transaction, so an action and its audit record commit together
(or not at all). Each record's hash covers the previous record's hash, so editing or deleting a
row (which the database triggers already refuse) breaks `verify()` from that row on.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Optional, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from ops.tables import kb_audit, kb_audit_head

GENESIS = "0" * 64


class Actor(Protocol):
    username: str
    role: str


@dataclass(frozen=True)
class SystemActor:
    """Actions not taken by a person (seeding, the action server reporting a miss)."""

    username: str = "system"
    role: str = "system"


SYSTEM = SystemActor()


def _record_hash(prev: str, seq: int, at: float, actor: str, role: str, action: str, target: str,
                 detail: str) -> str:
    payload = json.dumps([prev, seq, repr(at), actor, role, action, target, detail], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _ensure_head(conn: Connection) -> None:
    dialect = conn.dialect.name
    values = {"id": 1, "seq": 0, "last_hash": GENESIS}
    if dialect == "postgresql":
        conn.execute(pg_insert(kb_audit_head).values(**values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        conn.execute(sqlite_insert(kb_audit_head).values(**values).on_conflict_do_nothing())
    elif conn.execute(select(kb_audit_head.c.id)).first() is None:  # pragma: no cover - other databases
        conn.execute(insert(kb_audit_head).values(**values))


def append(conn: Connection, actor: Actor, action: str, target: str = "",
           detail: Optional[dict[str, Any]] = None, *, at: Optional[float] = None) -> int:
    """Append one record in the caller's transaction; returns its sequence number."""
    _ensure_head(conn)
    # the UPDATE takes the head row's write lock first: concurrent appends queue here (PostgreSQL row
    # lock, SQLite write lock), so the chain never forks
    conn.execute(update(kb_audit_head).where(kb_audit_head.c.id == 1).values(seq=kb_audit_head.c.seq + 1))
    head = conn.execute(select(kb_audit_head.c.seq, kb_audit_head.c.last_hash).where(kb_audit_head.c.id == 1)).one()
    at = time.time() if at is None else at
    detail_json = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str)
    target = (target or "")[:200]
    digest = _record_hash(head.last_hash, head.seq, at, actor.username, actor.role, action, target, detail_json)
    conn.execute(insert(kb_audit).values(seq=head.seq, at=at, actor=actor.username, role=actor.role, action=action,
                                         target=target, detail=detail_json, prev_hash=head.last_hash, hash=digest))
    conn.execute(update(kb_audit_head).where(kb_audit_head.c.id == 1).values(last_hash=digest))
    return int(head.seq)


def record(engine: Engine, actor: Actor, action: str, target: str = "", detail: Optional[dict] = None) -> int:
    """Append in a transaction of its own (for actions that write nothing else)."""
    with engine.begin() as conn:
        return append(conn, actor, action, target, detail)


def entries(engine: Engine, limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(kb_audit).order_by(kb_audit.c.seq.desc()).limit(limit).offset(offset)).all()
    return [{"seq": r.seq, "at": r.at, "actor": r.actor, "role": r.role, "action": r.action, "target": r.target,
             "detail": json.loads(r.detail or "{}"), "hash": r.hash} for r in rows]


def verify(engine: Engine) -> tuple[bool, int, Optional[str]]:
    """Walk the chain: (intact, records checked, first problem)."""
    prev, count, expected_seq = GENESIS, 0, 1
    with engine.connect() as conn:
        for r in conn.execute(select(kb_audit).order_by(kb_audit.c.seq)):
            if r.seq != expected_seq:
                return False, count, f"record {expected_seq} is missing (next is {r.seq})"
            if r.prev_hash != prev:
                return False, count, f"record {r.seq}: previous hash does not match"
            if _record_hash(prev, r.seq, r.at, r.actor, r.role, r.action, r.target, r.detail) != r.hash:
                return False, count, f"record {r.seq}: content does not match its hash"
            prev, count, expected_seq = r.hash, count + 1, expected_seq + 1
        head = conn.execute(select(kb_audit_head.c.last_hash)).first()
    if head is not None and head.last_hash != prev:
        return False, count, "the newest records are missing"
    return True, count, None
