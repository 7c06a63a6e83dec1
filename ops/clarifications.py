"""Questions the bot asked a clarification for ("您是想问：1… 2… 3…"), with the option the user picked.

The action server reports each pick fire-and-forget (`POST /api/clarifications`, actions/unanswered.py
`report_choice`): the user's question (redacted, like unanswered questions), the knowledge item they
chose and the items offered. Such a question is a ready-made similar question of the chosen FAQ: ops
see open picks grouped by the chosen item and add one as a similar question in one click, which
publishes that single FAQ edit at once (`KbStore.publish_edit`: editors' other unpublished draft
changes stay unpublished, the draft gets the edit too), or dismiss it. A chosen clause section
(`clause.<product>.<section>`) is listed but cannot take similar questions.
"""
from __future__ import annotations

import json
import re
import time
from typing import Any, Callable, Optional, Sequence

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from common.masking import redact_text
from ops import audit
from ops.audit import Actor
from ops.documents import FAQ_ID_RE, DocumentError, faq_key
from ops.store import ConflictError, KbStore, NotFound, VersionInfo
from ops.tables import kb_clarifications
from ops.unanswered import redact_question, sender_hash, with_similar

KNOWLEDGE_ID = r"^(faq|clause)\.[a-z0-9_]+(\.[a-z0-9_]+)*$"  # corpus item ids: faq.<...> and clause.<product>.<section>
KNOWLEDGE_ID_RE = re.compile(KNOWLEDGE_ID)
MAX_OPTIONS = 10
OPEN, ATTACHED, DISMISSED = "open", "attached", "dismissed"


def kind_of(item_id: str) -> str:
    return "faq" if FAQ_ID_RE.match(item_id) else "clause" if item_id.startswith("clause.") else "other"


def record(engine: Engine, question: str, *, chosen_id: str, options: Sequence[str], sender_id: str = "",
           channel: str = "", at: Optional[float] = None) -> int:
    """Store one pick, the question redacted again (callers redact too; the store never trusts them)."""
    if not KNOWLEDGE_ID_RE.match(chosen_id or ""):
        raise DocumentError([f"“{chosen_id}”不是知识条目编号"])
    offered = list(dict.fromkeys(o for o in options if KNOWLEDGE_ID_RE.match(o or "")))[:MAX_OPTIONS]
    with engine.begin() as conn:
        result = conn.execute(insert(kb_clarifications).values(
            created_at=at or time.time(), question=redact_question(question), chosen_id=chosen_id[:120],
            options=json.dumps(offered), sender_hash=sender_hash(sender_id), channel=(channel or "")[:32], status=OPEN))
    return int(result.inserted_primary_key[0])


def open_items(engine: Engine, since: Optional[float] = None, limit: int = 5000) -> list[Any]:
    query = select(kb_clarifications).where(kb_clarifications.c.status == OPEN)
    if since is not None:
        query = query.where(kb_clarifications.c.created_at >= since)
    with engine.connect() as conn:
        return list(conn.execute(query.order_by(kb_clarifications.c.created_at.desc()).limit(limit)))


def groups(store: KbStore, since: Optional[float] = None,
           title_of: Optional[Callable[[str], Optional[str]]] = None) -> list[dict[str, Any]]:
    """Open picks grouped by the chosen item (most picked first); within a group, one entry per distinct
    question with its ids and count. FAQ groups carry the published standard question and whether the
    FAQ can take the question as a similar question; other items a title from `title_of` (the live index)."""
    items = open_items(store.engine, since)
    if not items:
        return []
    published = store.ensure_seeded()
    by_item: dict[str, dict[str, dict[str, Any]]] = {}
    for row in items:  # newest first
        entry = by_item.setdefault(row.chosen_id, {}).setdefault(row.question, {
            "question": row.question, "ids": [], "count": 0, "first_at": row.created_at, "last_at": row.created_at,
            "options": json.loads(row.options or "[]")})
        entry["ids"].append(row.id)
        entry["count"] += 1
        entry["first_at"] = min(entry["first_at"], row.created_at)
    out = []
    for chosen_id, questions in by_item.items():
        kind, title, similar, exists = kind_of(chosen_id), None, set(), False
        if kind == "faq":
            body = store.document(published, faq_key(chosen_id))
            if body is not None:
                faq = json.loads(body)
                title, similar, exists = faq.get("question"), set(faq.get("similar") or []), True
        if title is None and title_of is not None:
            title = title_of(chosen_id)
        entries = sorted(questions.values(), key=lambda e: (-e["count"], -e["last_at"]))
        for e in entries:
            e["known"] = e["question"] in similar or e["question"] == title  # already a similar question
        out.append({"chosen_id": chosen_id, "kind": kind, "title": title, "attachable": kind == "faq" and exists,
                    "count": sum(e["count"] for e in entries), "last_at": max(e["last_at"] for e in entries),
                    "questions": entries[:100]})
    out.sort(key=lambda g: (-g["count"], -g["last_at"]))
    return out


def _open_rows(engine: Engine, ids: Sequence[int]) -> list[Any]:
    if not ids:
        raise DocumentError(["请选择至少一个问题"])
    with engine.connect() as conn:
        rows = conn.execute(select(kb_clarifications).where(kb_clarifications.c.id.in_(list(ids)))).all()
    if not rows:
        raise NotFound("未找到这些澄清记录")
    rows = [r for r in rows if r.status == OPEN]
    if not rows:
        raise ConflictError("这些问题已被处理（加为相似问或忽略），请刷新")
    return rows


def _mark(conn: Connection, ids: Sequence[int], status: str, actor: Actor, version_id: Optional[int] = None) -> int:
    result = conn.execute(update(kb_clarifications)
                          .where(kb_clarifications.c.id.in_(list(ids)), kb_clarifications.c.status == OPEN)
                          .values(status=status, resolved_by=actor.username, resolved_at=time.time(),
                                  version_id=version_id))
    return result.rowcount or 0


def attach(store: KbStore, ids: Sequence[int], actor: Actor) -> tuple[VersionInfo, bool, str]:
    """Add the picked questions as similar questions of the FAQ they chose and publish that edit now.

    Returns (the published version, whether a new version was published, the FAQ id). The same path
    as unanswered questions (ops.unanswered.with_similar on the FAQ body, KbStore), published alone."""
    rows = _open_rows(store.engine, ids)
    chosen = {r.chosen_id for r in rows}
    if len(chosen) != 1:
        raise DocumentError(["所选问题选定的不是同一个 FAQ"])
    faq_id = chosen.pop()
    if kind_of(faq_id) != "faq":
        raise DocumentError([f"“{faq_id}”是条款条目，不能添加相似问"])
    texts = list(dict.fromkeys(redact_text(r.question, reference_numbers=True) for r in rows))
    row_ids = [r.id for r in rows]

    def mark(conn: Connection, version_id: int) -> None:
        if _mark(conn, row_ids, ATTACHED, actor, version_id) == 0:
            raise ConflictError("这些问题已被其他人处理，请刷新")

    info, _created = store.publish_edit(
        faq_key(faq_id), lambda body: with_similar(body, texts), actor,
        f"澄清后选定的问题 {len(texts)} 条加为 {faq_id} 的相似问并发布", action="clarification.attach",
        audit_detail={"clarification_ids": row_ids[:200], "questions": len(texts)}, within=mark)
    return info, _created, faq_id


def dismiss(engine: Engine, ids: Sequence[int], actor: Actor) -> int:
    with engine.begin() as conn:
        n = _mark(conn, ids, DISMISSED, actor)
        audit.append(conn, actor, "clarification.dismiss", f"{len(ids)} items", {"ids": list(ids)[:200]})
    return n


def count_open(engine: Engine) -> int:
    from sqlalchemy import func

    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(kb_clarifications)
                                .where(kb_clarifications.c.status == OPEN)).scalar() or 0)
