"""Questions the bot could not answer: collected (masked), grouped by meaning, turned into FAQ edits.

The action server reports each miss (`POST /api/unanswered`); ops see open questions grouped by
embedding similarity (the knowledge encoder), each group with the FAQ the live index thinks is
closest, and resolve a group in one action: attach its questions to an FAQ as similar questions, or
create a new FAQ from it. Both write a draft version; publishing makes them live.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

import numpy as np
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine

from common.masking import redact_text
from knowledge.encoder import EmbeddingCache, Encoder, encode_cached
from ops import audit
from ops.audit import Actor
from ops.documents import DocumentError, faq_body, faq_key
from ops.store import KbStore, NotFound, VersionInfo
from ops.tables import kb_unanswered

MAX_QUESTION_CHARS = 300
GROUP_SIMILARITY = 0.92   # e5-small cosine (compressed scale): paraphrases of one need ~0.93-0.96, other topics up to ~0.91
OPEN = "open"


@dataclass
class Group:
    ids: list[int]
    questions: list[str]
    first_at: float
    last_at: float
    representative: str = ""
    suggestion: Optional[dict[str, Any]] = None
    centroid: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"ids": self.ids, "count": len(self.ids), "questions": list(dict.fromkeys(self.questions))[:30],
                "representative": self.representative, "first_at": self.first_at, "last_at": self.last_at,
                "suggestion": self.suggestion}


def sender_hash(sender_id: str) -> str:
    """A pseudonym that counts distinct users without keeping their ids."""
    return hashlib.sha256(("unanswered:" + sender_id).encode("utf-8")).hexdigest()[:16] if sender_id else ""


def redact_question(question: str) -> str:
    """A question as it may be stored and mined: personal data and reference numbers as labels
    ([手机号], [编号]), whitespace collapsed, clipped. Labels, not partial masks: these questions become
    FAQ wording, and a half-visible number helps no one there."""
    return redact_text(" ".join(question.split()), reference_numbers=True)[:MAX_QUESTION_CHARS]


def record(engine: Engine, question: str, *, sender_id: str = "", channel: str = "", reason: str = "",
           top_id: Optional[str] = None, confidence: Optional[float] = None, at: Optional[float] = None) -> int:
    """Store one miss, redacted (again: callers redact too, the store never trusts them)."""
    text = redact_question(question)
    with engine.begin() as conn:
        result = conn.execute(insert(kb_unanswered).values(
            created_at=at or time.time(), question=text, sender_hash=sender_hash(sender_id), channel=channel[:32],
            reason=reason[:32], top_id=(top_id or None) and top_id[:120], confidence=confidence, status=OPEN))
    return int(result.inserted_primary_key[0])


def open_items(engine: Engine, limit: int = 2000, since: Optional[float] = None) -> list[Any]:
    query = select(kb_unanswered).where(kb_unanswered.c.status == OPEN)
    if since is not None:
        query = query.where(kb_unanswered.c.created_at >= since)
    with engine.connect() as conn:
        return list(conn.execute(query.order_by(kb_unanswered.c.created_at.desc()).limit(limit)))


def group_questions(items: Sequence[Any], encoder: Encoder, cache: Optional[EmbeddingCache] = None,
                    threshold: float = GROUP_SIMILARITY) -> list[Group]:
    """Greedy single pass: each question joins the most similar group centroid above `threshold`."""
    if not items:
        return []
    texts = [r.question for r in items]
    vecs, _ = encode_cached(encoder, cache or EmbeddingCache(None), texts, "query")
    groups: list[Group] = []
    sums: list[np.ndarray] = []
    for row, vec in zip(items, vecs):
        best, best_sim = -1, threshold
        for n, total in enumerate(sums):
            centroid = total / (np.linalg.norm(total) or 1.0)
            sim = float(centroid @ vec)
            if sim >= best_sim:
                best, best_sim = n, sim
        if best < 0:
            groups.append(Group([row.id], [row.question], row.created_at, row.created_at))
            sums.append(vec.astype(np.float64).copy())
        else:
            g = groups[best]
            g.ids.append(row.id)
            g.questions.append(row.question)
            g.first_at, g.last_at = min(g.first_at, row.created_at), max(g.last_at, row.created_at)
            sums[best] += vec
    for g, total in zip(groups, sums):
        centroid = total / (np.linalg.norm(total) or 1.0)
        g.centroid = centroid
        members = [vecs[texts.index(q)] for q in g.questions]
        g.representative = g.questions[int(np.argmax([float(m @ centroid) for m in members]))]
    groups.sort(key=lambda g: (-len(g.ids), -g.last_at))
    return groups


def _mark(conn, ids: Iterable[int], status: str, faq_id: Optional[str], actor: Actor) -> int:
    result = conn.execute(update(kb_unanswered).where(kb_unanswered.c.id.in_(list(ids)),
                                                      kb_unanswered.c.status == OPEN)
                          .values(status=status, faq_id=faq_id, resolved_by=actor.username, resolved_at=time.time()))
    return result.rowcount or 0


def _questions(engine: Engine, ids: Sequence[int]) -> list[str]:
    if not ids:
        raise DocumentError(["请选择至少一个未答问题"])
    with engine.connect() as conn:
        rows = conn.execute(select(kb_unanswered.c.question).where(kb_unanswered.c.id.in_(list(ids)))).all()
    if not rows:
        raise NotFound("未找到这些未答问题")
    return list(dict.fromkeys(r.question for r in rows))


def with_similar(body: str, texts: Sequence[str]) -> str:
    """An FAQ body with `texts` appended to its similar questions (new ones only), validated (DocumentError)."""
    faq = json.loads(body)
    similar = list(faq.get("similar") or [])
    faq["similar"] = similar + [q for q in dict.fromkeys(texts) if q not in similar and q != faq.get("question")]
    return faq_body(faq)


def attach_to_faq(store: KbStore, ids: Sequence[int], faq_id: str, actor: Actor,
                  questions: Optional[Sequence[str]] = None) -> VersionInfo:
    """Add the questions (masked) as similar questions of `faq_id` in the draft; mark them resolved."""
    texts = [redact_text(q, reference_numbers=True) for q in (questions or _questions(store.engine, ids))]
    head = store.draft_version_id()
    body = store.document(head, faq_key(faq_id))
    if body is None:
        raise NotFound(f"FAQ {faq_id} 不存在")
    info = store.save({faq_key(faq_id): with_similar(body, texts)}, actor, f"未答问题 {len(texts)} 条加为 {faq_id} 的相似问",
                      expect={faq_key(faq_id): store.manifest(head)[faq_key(faq_id)]},
                      action="unanswered.attach", audit_detail={"unanswered_ids": list(ids)[:200]})
    with store.engine.begin() as conn:
        _mark(conn, ids, "attached", faq_id, actor)
    return info


def create_faq(store: KbStore, ids: Sequence[int], faq: dict[str, Any], actor: Actor) -> VersionInfo:
    """A new FAQ from a group: its questions become the similar questions unless given."""
    if not faq.get("similar"):
        faq = {**faq, "similar": [q for q in _questions(store.engine, ids) if q != faq.get("question")]}
    body = faq_body(faq)
    faq_id = json.loads(body)["id"]
    info = store.save({faq_key(faq_id): body}, actor, f"由未答问题新建 FAQ {faq_id}", expect={faq_key(faq_id): None},
                      action="unanswered.new_faq", audit_detail={"unanswered_ids": list(ids)[:200]})
    with store.engine.begin() as conn:
        _mark(conn, ids, "new_faq", faq_id, actor)
    return info


def dismiss(engine: Engine, ids: Sequence[int], actor: Actor) -> int:
    with engine.begin() as conn:
        n = _mark(conn, ids, "dismissed", None, actor)
        audit.append(conn, actor, "unanswered.dismiss", f"{len(ids)} items", {"ids": list(ids)[:200]})
    return n


def daily_counts(engine: Engine, since: float) -> dict[str, int]:
    """Misses per day (Beijing date) since `since` (for the analytics trend)."""
    from ops.analytics import day_of

    with engine.connect() as conn:
        rows = conn.execute(select(kb_unanswered.c.created_at).where(kb_unanswered.c.created_at >= since)).all()
    counts: dict[str, int] = {}
    for r in rows:
        day = day_of(r.created_at)
        counts[day] = counts.get(day, 0) + 1
    return counts


def count_open(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(kb_unanswered)
                                .where(kb_unanswered.c.status == OPEN)).scalar() or 0)
