"""Ops API: unanswered questions (`/api/unanswered*`), clarification picks (`/api/clarifications*`),
analytics (`/api/analytics*`), users and audit (admin).

`POST /api/unanswered` and `POST /api/clarifications` are the machine endpoints: the action server
reports each miss, and each option a user picked after a clarification, there, fire-and-forget, with
the question already masked (masked again here before storing).
"""
from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Optional

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import delete, select, update

from ops import analytics, audit, clarifications, unanswered
from ops.documents import DocumentError
from ops.store import ConflictError, NotFound
from transcripts.crypto import KeyRing
from web.auth import (ROLES, AdminUser, AuthError, EditorUser, ViewerUser, create_user, hash_password, sessions,
                      users)
from web.deps import StateDep
from web.ops_deps import notify_published, tracker_engine
from web.params import MAX_ID, IdItem

router = APIRouter(tags=["ops"])
_recent: dict[str, float] = {}
_recent_choices: dict[str, float] = {}


# ---- unanswered questions ----------------------------------------------------------------------------
class MissIn(BaseModel):
    question: str = Field(..., min_length=1, max_length=2000)
    sender_id: str = Field("", max_length=200)
    channel: str = Field("", max_length=32)
    reason: str = Field("", max_length=32)
    top_id: Optional[str] = Field(None, max_length=120)
    confidence: Optional[float] = None


def _seen_recently(recent: dict[str, float], key: str, window_s: float = 10.0) -> bool:
    """True for a repeat of `key` within `window_s` (the action server's retries); records it otherwise."""
    now = time.monotonic()
    if now - recent.get(key, -1e9) < window_s:
        return True
    if len(recent) > 10_000:
        recent.clear()
    recent[key] = now
    return False


@router.post("/api/unanswered", status_code=202)
def report_miss(body: MissIn, state: StateDep) -> dict[str, Any]:
    """Machine endpoint for the action server (no user session). Duplicates within 10 s are dropped."""
    if _seen_recently(_recent, f"{body.sender_id}\x1f{body.question}"):
        return {"stored": False}
    item_id = unanswered.record(state.engine, body.question, sender_id=body.sender_id, channel=body.channel,
                                reason=body.reason, top_id=body.top_id, confidence=body.confidence)
    return {"stored": True, "id": item_id}


def _groups(state, days: int) -> list[dict[str, Any]]:
    items = unanswered.open_items(state.engine, since=time.time() - days * 86400)
    if not items:
        return []
    groups = unanswered.group_questions(items, state.knowledge.encoder())
    out = []
    index = state.knowledge.index if state.knowledge.ready else None
    for g in groups[:200]:
        if index is not None:
            result = index.search(g.representative, top_k=3)
            faqs = [h for h in result.hits if h.kind == "faq"]
            if faqs:
                g.suggestion = {"faq_id": faqs[0].id, "title": faqs[0].title, "score": round(faqs[0].score, 3)}
        out.append(g.to_dict())
    return out


@router.get("/api/unanswered/groups")
async def unanswered_groups(state: StateDep, user: EditorUser, days: int = Query(30, ge=1, le=365)) -> dict[str, Any]:
    groups = await asyncio.to_thread(_groups, state, days)
    return {"groups": groups, "open": sum(g["count"] for g in groups)}


class AttachIn(BaseModel):
    ids: list[IdItem] = Field(..., min_length=1, max_length=500)
    faq_id: str = Field(..., min_length=1, max_length=120)
    questions: Optional[list[str]] = Field(None, max_length=500)


class NewFaqIn(BaseModel):
    ids: list[IdItem] = Field(..., min_length=1, max_length=500)
    faq_id: str = Field(..., min_length=1, max_length=120)
    question: str = Field(..., min_length=1, max_length=200)
    answer: str = Field(..., min_length=1, max_length=2000)
    similar: Optional[list[str]] = Field(None, max_length=500)
    products: list[str] = Field(default_factory=list)


class IdsIn(BaseModel):
    ids: list[IdItem] = Field(..., min_length=1, max_length=500)


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except DocumentError as exc:
        raise HTTPException(status_code=422, detail={"message": "内容未通过校验", "problems": exc.problems}) from exc
    except ConflictError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    except NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


@router.post("/api/unanswered/attach")
def attach(body: AttachIn, state: StateDep, user: EditorUser) -> dict[str, Any]:
    info = _call(unanswered.attach_to_faq, state.kb, body.ids, body.faq_id, user, body.questions)
    return {"version": info.to_dict()}


@router.post("/api/unanswered/new-faq", status_code=201)
def new_faq(body: NewFaqIn, state: StateDep, user: EditorUser) -> dict[str, Any]:
    faq = {"id": body.faq_id, "question": body.question, "answer": body.answer, "similar": body.similar or [],
           "products": body.products}
    info = _call(unanswered.create_faq, state.kb, body.ids, faq, user)
    return {"version": info.to_dict(), "id": body.faq_id}


@router.post("/api/unanswered/dismiss")
def dismiss(body: IdsIn, state: StateDep, user: EditorUser) -> dict[str, Any]:
    return {"dismissed": unanswered.dismiss(state.engine, body.ids, user)}


# ---- clarification picks -------------------------------------------------------------------------------
KnowledgeId = Annotated[str, Field(min_length=1, max_length=120, pattern=clarifications.KNOWLEDGE_ID)]


class ChoiceIn(BaseModel):
    question: str = Field(..., min_length=1, max_length=2000)
    chosen_id: KnowledgeId
    options: list[KnowledgeId] = Field(..., min_length=1, max_length=clarifications.MAX_OPTIONS)
    sender_id: str = Field("", max_length=200)
    channel: str = Field("", max_length=32)

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question is blank")
        return value

    @model_validator(mode="after")
    def _chosen_offered(self) -> "ChoiceIn":
        if self.chosen_id not in self.options:
            raise ValueError("chosen_id must be one of options")
        return self


@router.post("/api/clarifications", status_code=202)
def report_choice(body: ChoiceIn, state: StateDep) -> dict[str, Any]:
    """Machine endpoint for the action server (no user session): the option a user picked after a
    clarification. Stored redacted; the same pick from the same sender within 10 s is dropped."""
    if _seen_recently(_recent_choices, f"{body.sender_id}\x1f{body.chosen_id}\x1f{body.question}"):
        return {"stored": False}
    item_id = _call(clarifications.record, state.engine, body.question, chosen_id=body.chosen_id,
                    options=body.options, sender_id=body.sender_id, channel=body.channel)
    return {"stored": True, "id": item_id}


def _clause_title(state):
    index = state.knowledge.index if state.knowledge.ready else None

    def title(item_id: str) -> Optional[str]:
        item = index.corpus.items.get(item_id) if index is not None else None
        return getattr(item, "title", None)
    return title


@router.get("/api/clarifications")
def clarification_groups(state: StateDep, user: EditorUser, days: int = Query(30, ge=1, le=365)) -> dict[str, Any]:
    groups = clarifications.groups(state.kb, since=time.time() - days * 86400, title_of=_clause_title(state))
    return {"groups": groups, "open": sum(g["count"] for g in groups)}


@router.post("/api/clarifications/attach")
def clarification_attach(body: IdsIn, state: StateDep, user: EditorUser) -> dict[str, Any]:
    """Add the picked question(s) as similar questions of the chosen FAQ and publish that edit at once."""
    info, published, faq_id = _call(clarifications.attach, state.kb, body.ids, user)
    if published:
        notify_published(state, info.id)
    return {"version": info.to_dict(), "published": published, "faq_id": faq_id}


@router.post("/api/clarifications/dismiss")
def clarification_dismiss(body: IdsIn, state: StateDep, user: EditorUser) -> dict[str, Any]:
    return {"dismissed": clarifications.dismiss(state.engine, body.ids, user)}


# ---- analytics ------------------------------------------------------------------------------------------
def _report(state, days: int) -> dict[str, Any]:
    return analytics.report(tracker_engine(state), state.engine, days, keyring=KeyRing.from_settings(state.settings))


@router.get("/api/analytics")
async def analytics_json(state: StateDep, user: ViewerUser, days: int = Query(30, ge=1, le=365)) -> dict[str, Any]:
    return await asyncio.to_thread(_report, state, days)


@router.get("/api/analytics.csv")
async def analytics_csv(state: StateDep, user: ViewerUser, days: int = Query(30, ge=1, le=365)) -> Response:
    data = await asyncio.to_thread(_report, state, days)
    return Response("\ufeff" + analytics.to_csv(data), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="insurebot-analytics-{data["to"]}.csv"'})


# ---- users (admin) and audit ----------------------------------------------------------------------------
class UserIn(BaseModel):
    username: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(..., min_length=8, max_length=200)
    role: str = Field(..., pattern="^(viewer|agent|editor|admin)$")
    display_name: str = Field("", max_length=64)
    wecom_userid: Optional[str] = Field(None, max_length=64)


class UserChangeIn(BaseModel):
    role: Optional[str] = Field(None, pattern="^(viewer|agent|editor|admin)$")
    password: Optional[str] = Field(None, min_length=8, max_length=200)
    active: Optional[bool] = None
    display_name: Optional[str] = Field(None, max_length=64)


@router.get("/api/users")
def get_users(state: StateDep, user: AdminUser) -> dict[str, Any]:
    with state.engine.connect() as conn:
        rows = conn.execute(select(users).order_by(users.c.id)).all()
    return {"roles": list(ROLES), "users": [
        {"username": r.username, "role": r.role, "display_name": r.display_name, "wecom_userid": r.wecom_userid,
         "active": bool(r.active), "created_at": r.created_at} for r in rows]}


@router.post("/api/users", status_code=201)
def add_user(body: UserIn, state: StateDep, user: AdminUser) -> dict[str, Any]:
    try:
        created = create_user(state.engine, body.username, body.password, body.role, display_name=body.display_name,
                              wecom_userid=body.wecom_userid)
    except AuthError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    audit.record(state.engine, user, "user.create", created.username, {"role": created.role})
    return {"username": created.username, "role": created.role}


@router.put("/api/users/{username}")
def change_user(username: str, body: UserChangeIn, state: StateDep, user: AdminUser) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if body.role is not None:
        values["role"] = body.role
    if body.password is not None:
        values["password_hash"] = hash_password(body.password)
    if body.active is not None:
        values["active"] = 1 if body.active else 0
    if body.display_name is not None:
        values["display_name"] = body.display_name
    if not values:
        raise HTTPException(status_code=422, detail="nothing to change")
    if username == user.username and (values.get("active") == 0 or values.get("role", "admin") != "admin"):
        raise HTTPException(status_code=422, detail="不能停用自己或降低自己的角色")
    with state.engine.begin() as conn:
        row = conn.execute(select(users.c.id).where(users.c.username == username)).first()
        if row is None:
            raise HTTPException(status_code=404, detail=f"用户 {username} 不存在")
        conn.execute(update(users).where(users.c.id == row.id).values(**values))
        if "password_hash" in values or values.get("active") == 0 or "role" in values:
            conn.execute(delete(sessions).where(sessions.c.user_id == row.id))  # sign them out everywhere
        audit.append(conn, user, "user.update", username,
                     {k: v for k, v in values.items() if k != "password_hash"} | ({"password": "reset"}
                                                                                 if "password_hash" in values else {}))
    return {"username": username, "changed": sorted(k if k != "password_hash" else "password" for k in values)}


@router.get("/api/audit")
def get_audit(state: StateDep, user: AdminUser, limit: int = Query(200, ge=1, le=1000),
              offset: int = Query(0, ge=0, le=MAX_ID)) -> dict[str, Any]:
    intact, checked, problem = audit.verify(state.engine)
    return {"chain": {"intact": intact, "records": checked, "problem": problem},
            "entries": audit.entries(state.engine, limit, offset)}
