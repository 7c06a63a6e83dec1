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


@dataclass(frozen=True)
class Verification:
    """Result of walking the chain: ``broken_seq`` is the first record that fails, with the reason."""

    ok: bool
    checked: int
    broken_seq: Optional[int] = None
    reason: Optional[str] = None
    head_seq: int = 0
    head_hash: str = GENESIS

    @property
    def problem(self) -> Optional[str]:
        return None if self.ok else f"record {self.broken_seq}: {self.reason}"


def verify_chain(engine: Engine) -> Verification:
    """Recompute every record's hash in order; stop at the first record that is missing or altered.

    Catches edits and deletions made past the triggers (a superuser, a copied database file). Someone
    who rewrites a record *and* every later hash and the head is caught only against a head hash
    kept elsewhere: `python -m ops.audit verify` prints it for that.
    """
    prev, count, expected_seq = GENESIS, 0, 1
    with engine.connect() as conn:
        for r in conn.execute(select(kb_audit).order_by(kb_audit.c.seq)):
            if r.seq != expected_seq:
                return Verification(False, count, expected_seq, f"missing (the next record is {r.seq})")
            if r.prev_hash != prev:
                return Verification(False, count, r.seq, "its previous-hash does not match the record before it")
            if _record_hash(prev, r.seq, r.at, r.actor, r.role, r.action, r.target, r.detail) != r.hash:
                return Verification(False, count, r.seq, "its content does not match its hash")
            prev, count, expected_seq = r.hash, count + 1, expected_seq + 1
        head = conn.execute(select(kb_audit_head.c.seq, kb_audit_head.c.last_hash)).first()
    if head is not None and (head.last_hash != prev or head.seq != count):
        return Verification(False, count, count + 1,
                            f"missing: the head says {head.seq} records ending in {head.last_hash[:12]}…",
                            head.seq, head.last_hash)
    return Verification(True, count, head_seq=count, head_hash=prev)


def verify(engine: Engine) -> tuple[bool, int, Optional[str]]:
    """Walk the chain: (intact, records checked, first problem)."""
    result = verify_chain(engine)
    return result.ok, result.checked, result.problem


def main(argv: Optional[list[str]] = None) -> int:
    """`python -m ops.audit verify [--database-url URL]`: 0 if the chain is intact, 1 otherwise."""
    import argparse
    from pathlib import Path

    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from common.settings import load_settings
    from storage.db import get_engine

    parser = argparse.ArgumentParser(prog="python -m ops.audit", description="Audit log tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="recompute the hash chain; exit 1 at the first broken record")
    check.add_argument("--database-url", help="default: DATABASE_URL, else var/app.db")
    args = parser.parse_args(argv)

    url = args.database_url or load_settings().app_database_url
    shown = make_url(url).render_as_string(hide_password=True)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        print(f"audit log: no database at {shown}")
        return 1
    engine = get_engine(url)
    if not inspect(engine).has_table(kb_audit.name):
        print(f"audit log: no {kb_audit.name} table in {shown}")
        return 1
    result = verify_chain(engine)
    if result.ok:
        print(f"audit log OK: {result.checked} records checked in {shown}")
        print(f"head: seq {result.head_seq} hash {result.head_hash} (keep it elsewhere to detect a rewritten chain)")
        return 0
    print(f"audit log BROKEN at seq {result.broken_seq}: {result.reason}")
    print(f"{result.checked} records before it are intact ({shown})")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
