"""Knowledge-base editing API of the ops console (`/api/kb/*`, role editor; JSON, used by the console pages).

Every write makes a new draft version (who/when/what, audited); `publish` makes the draft live in
every process (ops.sync); `rollback` republishes any earlier version; `test` answers against the draft.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Optional

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from pydantic import BaseModel, Field

from knowledge.search import MAX_QUERY_CHARS
from ops.documents import (CLAUSE_PREFIX, FAQ_PREFIX, DocumentError, clause_body, clause_key, document_fact_problems,
                           faq_body, faq_key, rate_problems, rates_key)
from ops.importers import SUPPORTED, ImportErrorZh, extract_text, preview, to_clause_markdown
from ops.store import ConflictError, NotFound
from web.auth import EditorUser
from web.deps import StateDep
from web.ops_deps import draft_index, notify_published, reload_status
from web.params import MAX_ID

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/kb", tags=["ops: knowledge base"])


def _problems(exc: DocumentError) -> HTTPException:
    return HTTPException(status_code=422, detail={"message": "内容未通过校验", "problems": exc.problems})


def _run(fn, *args, **kwargs):
    """Store calls with their errors as HTTP answers."""
    try:
        return fn(*args, **kwargs)
    except DocumentError as exc:
        raise _problems(exc) from exc
    except ConflictError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    except NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


# ---- status and versions ------------------------------------------------------------------------
@router.get("/status")
def status(state: StateDep, user: EditorUser) -> dict[str, Any]:
    kb = state.kb
    kb.ensure_seeded()
    draft, published = kb.draft_version_id(), kb.published_version_id()
    return {"draft_version_id": draft, "published_version_id": published,
            "unpublished_changes": kb.manifest(draft) != kb.manifest(published), **reload_status(state)}


@router.get("/versions")
def versions(state: StateDep, user: EditorUser, limit: int = Query(100, ge=1, le=500),
             offset: int = Query(0, ge=0, le=MAX_ID)) -> dict[str, Any]:
    state.kb.ensure_seeded()
    return {"versions": [v.to_dict() for v in state.kb.versions(limit, offset)]}


@router.get("/diff")
def diff(state: StateDep, user: EditorUser, a: int = Query(..., ge=1, le=MAX_ID), b: int = Query(..., ge=1, le=MAX_ID)) -> dict[str, Any]:
    return {"a": a, "b": b, "documents": [d.to_dict() for d in _run(state.kb.diff, a, b)]}


class PublishIn(BaseModel):
    note: str = Field("", max_length=200)


@router.post("/publish")
def publish(body: PublishIn, state: StateDep, user: EditorUser) -> dict[str, Any]:
    info = _run(state.kb.publish, user, note=body.note)
    notify_published(state, info.id)
    log.info("knowledge version published", extra={"event": "kb.published", "version_id": info.id})
    return {"published": info.to_dict()}


class RollbackIn(BaseModel):
    version_id: int = Field(..., ge=1, le=MAX_ID)


@router.post("/rollback")
def rollback(body: RollbackIn, state: StateDep, user: EditorUser) -> dict[str, Any]:
    info = _run(state.kb.rollback, body.version_id, user)
    notify_published(state, info.id)
    log.info("knowledge rolled back", extra={"event": "kb.rolled_back", "to": body.version_id, "version_id": info.id})
    return {"published": info.to_dict()}


# ---- FAQ ------------------------------------------------------------------------------------------
class FaqIn(BaseModel):
    id: Optional[str] = Field(None, max_length=120)
    question: str = Field(..., max_length=200)
    similar: list[str] = Field(default_factory=list, max_length=500)
    answer: str = Field(..., max_length=2000)
    products: list[str] = Field(default_factory=list, max_length=10)
    expected_hash: Optional[str] = Field(None, description="hash of the FAQ as loaded; 409 if it changed since")


def _faq_out(key: str, body: str, manifest: dict[str, str], published: dict[str, str]) -> dict[str, Any]:
    faq = json.loads(body)
    return {**faq, "hash": manifest[key], "published": published.get(key) == manifest[key],
            "new": key not in published}


@router.get("/faqs")
def list_faqs(state: StateDep, user: EditorUser, q: str = Query("", max_length=100)) -> dict[str, Any]:
    kb = state.kb
    kb.ensure_seeded()
    draft = kb.draft_version_id()
    manifest, published = kb.manifest(draft), kb.manifest(kb.published_version_id())
    needle = q.strip().lower()
    out = []
    for key, body in kb.documents(draft, FAQ_PREFIX).items():
        if needle and needle not in body.lower():
            continue
        out.append(_faq_out(key, body, manifest, published))
    return {"version_id": draft, "faqs": out}


@router.get("/faqs/{faq_id}")
def get_faq(faq_id: str, state: StateDep, user: EditorUser) -> dict[str, Any]:
    kb = state.kb
    kb.ensure_seeded()
    draft = kb.draft_version_id()
    body = kb.document(draft, faq_key(faq_id))
    if body is None:
        raise HTTPException(status_code=404, detail=f"FAQ {faq_id} 不存在")
    return _faq_out(faq_key(faq_id), body, kb.manifest(draft), kb.manifest(kb.published_version_id()))


def _faq_dict(body: FaqIn, faq_id: str) -> dict[str, Any]:
    return {"id": faq_id, "question": body.question, "similar": body.similar, "answer": body.answer,
            "products": body.products}


@router.post("/faqs", status_code=201)
def create_faq(body: FaqIn, state: StateDep, user: EditorUser) -> dict[str, Any]:
    if not body.id:
        raise HTTPException(status_code=422, detail={"message": "内容未通过校验", "problems": ["请填写 FAQ 编号"]})
    text = _run(faq_body, _faq_dict(body, body.id))
    info = _run(state.kb.save, {faq_key(body.id): text}, user, f"新建 FAQ {body.id}", expect={faq_key(body.id): None},
                action="kb.faq.create")
    return {"version": info.to_dict(), "id": body.id,
            "warnings": document_fact_problems(faq_key(body.id), text, state.kb.content_dir)}


@router.put("/faqs/{faq_id}")
def update_faq(faq_id: str, body: FaqIn, state: StateDep, user: EditorUser) -> dict[str, Any]:
    text = _run(faq_body, _faq_dict(body, faq_id))
    expect = {faq_key(faq_id): body.expected_hash} if body.expected_hash else None
    kb = state.kb
    kb.ensure_seeded()
    if kb.document(kb.draft_version_id(), faq_key(faq_id)) is None:
        raise HTTPException(status_code=404, detail=f"FAQ {faq_id} 不存在")
    info = _run(kb.save, {faq_key(faq_id): text}, user, f"编辑 FAQ {faq_id}", expect=expect, action="kb.faq.update")
    return {"version": info.to_dict(), "hash": info and kb.manifest(info.id).get(faq_key(faq_id)),
            "warnings": document_fact_problems(faq_key(faq_id), text, kb.content_dir)}


@router.delete("/faqs/{faq_id}")
def delete_faq(faq_id: str, state: StateDep, user: EditorUser) -> dict[str, Any]:
    info = _run(state.kb.save, {faq_key(faq_id): None}, user, f"删除 FAQ {faq_id}", action="kb.faq.delete")
    return {"version": info.to_dict()}


# ---- clause documents -------------------------------------------------------------------------------
@router.get("/clauses")
def list_clauses(state: StateDep, user: EditorUser) -> dict[str, Any]:
    kb = state.kb
    kb.ensure_seeded()
    out = []
    for key, body in kb.documents(kb.draft_version_id(), CLAUSE_PREFIX).items():
        p = preview(body)
        out.append({"product_id": key[len(CLAUSE_PREFIX):], "title": p.get("title"), "version": p.get("version"),
                    "articles": len(p["chunks"]), "chars": p.get("chars", 0), "ok": p["ok"]})
    return {"clauses": out}


@router.get("/clauses/{product_id}")
def get_clause(product_id: str, state: StateDep, user: EditorUser) -> dict[str, Any]:
    kb = state.kb
    kb.ensure_seeded()
    body = kb.document(kb.draft_version_id(), clause_key(product_id))
    if body is None:
        raise HTTPException(status_code=404, detail=f"没有产品 {product_id} 的条款")
    return {"product_id": product_id, "source": body, "preview": preview(body)}


class ClauseIn(BaseModel):
    source: str = Field(..., min_length=1, max_length=200_000)


@router.post("/clauses/preview")
def preview_clause(body: ClauseIn, user: EditorUser) -> dict[str, Any]:
    return preview(body.source)


@router.post("/clauses/import")
async def import_clause(user: EditorUser, file: UploadFile = File(...), product_id: str = Form(..., max_length=40),
                        title: str = Form("", max_length=60), version: str = Form("1", max_length=20)) -> dict[str, Any]:
    """An uploaded Markdown/TXT/DOCX/PDF file as clause Markdown plus its chunk preview (nothing is saved)."""
    data = await file.read()
    try:
        text = extract_text(file.filename or "upload", data)
    except ImportErrorZh as exc:
        raise HTTPException(status_code=422, detail={"message": str(exc), "problems": [str(exc)]}) from exc
    markdown = to_clause_markdown(text, product_id=product_id, title=title or f"{product_id}条款", version=version)
    return {"filename": file.filename, "source": markdown, "preview": preview(markdown), "supported": list(SUPPORTED)}


@router.put("/clauses/{product_id}")
def save_clause(product_id: str, body: ClauseIn, state: StateDep, user: EditorUser) -> dict[str, Any]:
    text = _run(clause_body, body.source, product_id)
    info = _run(state.kb.save, {clause_key(product_id): text}, user, f"更新条款 {product_id}",
                action="kb.clause.update")
    return {"version": info.to_dict(), "preview": preview(text),
            "warnings": document_fact_problems(clause_key(product_id), text, state.kb.content_dir)}


# ---- rate tables ------------------------------------------------------------------------------------
class RatesIn(BaseModel):
    text: str = Field(..., min_length=1, max_length=200_000)


@router.get("/rates")
def list_rates(state: StateDep, user: EditorUser) -> dict[str, Any]:
    kb = state.kb
    kb.ensure_seeded()
    return {"rates": sorted(kb.rate_texts(kb.draft_version_id()))}


@router.get("/rates/{product_id}")
def get_rates(product_id: str, state: StateDep, user: EditorUser) -> dict[str, Any]:
    kb = state.kb
    kb.ensure_seeded()
    text = kb.document(kb.draft_version_id(), rates_key(product_id))
    if text is None:
        raise HTTPException(status_code=404, detail=f"没有产品 {product_id} 的费率表")
    return {"product_id": product_id, "text": text}


def _rate_check(state, product_id: str, text: str) -> list[str]:
    kb = state.kb
    texts = kb.rate_texts(kb.draft_version_id())
    if product_id not in texts:
        raise HTTPException(status_code=404, detail=f"没有产品 {product_id} 的费率表")
    texts[product_id] = text
    return rate_problems(texts, kb.content_dir, only=product_id)


@router.post("/rates/{product_id}/validate")
def validate_rates(product_id: str, body: RatesIn, state: StateDep, user: EditorUser) -> dict[str, Any]:
    state.kb.ensure_seeded()
    problems = _rate_check(state, product_id, body.text)
    return {"ok": not problems, "problems": problems}


@router.put("/rates/{product_id}")
def save_rates(product_id: str, body: RatesIn, state: StateDep, user: EditorUser) -> dict[str, Any]:
    state.kb.ensure_seeded()
    problems = _rate_check(state, product_id, body.text)
    if problems:
        raise HTTPException(status_code=422, detail={"message": "费率表未通过校验", "problems": problems})
    info = _run(state.kb.save, {rates_key(product_id): body.text}, user, f"更新费率表 {product_id}",
                action="kb.rates.update")
    return {"version": info.to_dict()}


# ---- test box -------------------------------------------------------------------------------------
class TestIn(BaseModel):
    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS)
    context_product: Optional[str] = Field(None, max_length=40)
    top_k: int = Field(3, ge=1, le=10)


def _answer(index, body: TestIn) -> dict[str, Any]:
    """One index's answer for the test box: the decision (answer / clarify / refuse) and why — the reason
    code, the re-ranker margin (`confidence`) and P(best) (`top_score`), the thresholds, the clarification
    options (ids and labels), the exactly matched question, the foreign term that was refused."""
    result = index.search(body.query, top_k=body.top_k, context_product=body.context_product or None)
    return {"answerable": result.answerable, "decision": result.decision, "confidence": result.confidence,
            "reason": result.reason, "thresholds": result.thresholds, "options": result.options,
            "option_titles": [c.label for c in result.choices] if result.decision == "clarify" else [],
            "matched": result.matched, "foreign_term": result.foreign_term, "top_score": result.top_score,
            "hits": [h.to_dict() for h in result.hits], "index_version": index.version}


@router.post("/test")
def test_against_draft(body: TestIn, state: StateDep, user: EditorUser) -> dict[str, Any]:
    """The same question against the draft (built on demand) and against what users get now."""
    state.kb.ensure_seeded()
    try:
        vid, index = draft_index(state).index()
    except Exception as exc:
        raise HTTPException(status_code=422, detail={"message": "草稿无法构建索引",
                                                     "problems": [f"{type(exc).__name__}: {exc}"]}) from exc
    out: dict[str, Any] = {"draft": {"version_id": vid, **_answer(index, body)}}
    if state.knowledge.ready:
        out["live"] = {"version_id": state.kb_sync.live_version_id if state.kb_sync else None,
                       **_answer(state.knowledge.index, body)}
    return out
