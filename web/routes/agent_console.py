"""Agent console (客服工作台): login, queue, claim, live chat with the context card, quick replies, end.

Pages: ``/agent/login`` and ``/agent/`` (one page, plain JS polling ``/agent/api/...``).
Every API needs the ``agent`` role (editors and admins too); admins also set agents' skills.
Sessions are web/auth.py's (cookie ``insurebot_session``, or ``Authorization: Bearer``).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Row

from handoff.card import CHANNEL_LABELS, REASON_LABELS, SKILL_LABELS, SKILLS
from handoff.service import HandoffError, HandoffService
from handoff.store import ACTIVE, CALLBACK, QUEUED, card_of
from knowledge.service import IndexNotReady
from web.auth import SESSION_COOKIE, SESSION_TTL_S, AdminUser, AgentUser, AuthError, User, current_user, login, logout
from web.deps import StateDep
from web.handoff_runtime import get_service
from web.params import MAX_ID, PathId

log = logging.getLogger(__name__)
router = APIRouter(prefix="/agent", tags=["agent console"])
ServiceDep = Annotated[HandoffService, Depends(get_service)]

WEB_DIR = Path(__file__).resolve().parent.parent
ASSETS = {"agent_console.js": "application/javascript", "agent_console.css": "text/css"}
STATUS_LABELS = {QUEUED: "排队中", ACTIVE: "接待中", CALLBACK: "待回访", "ended": "已结束"}


# ---- pages ------------------------------------------------------------------------------------
def _page(name: str, **values: str) -> HTMLResponse:
    html = (WEB_DIR / "templates" / name).read_text(encoding="utf-8")
    for key, value in values.items():
        html = html.replace("{{" + key + "}}", value)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(error: str = "") -> HTMLResponse:
    message = {"1": "用户名或密码错误", "role": "该账号没有客服权限"}.get(error, "")
    return _page("agent_login.html", error=message)


@router.post("/login", include_in_schema=False)
def login_submit(state: StateDep, username: Annotated[str, Form()], password: Annotated[str, Form()]) -> Response:
    try:
        token, user = login(state.engine, username.strip(), password)
    except AuthError:
        log.info("console login failed", extra={"event": "agent.login_failed"})
        return RedirectResponse("/agent/login?error=1", status_code=303)
    if not user.has("agent"):
        logout(state.engine, token)
        return RedirectResponse("/agent/login?error=role", status_code=303)
    response = RedirectResponse("/agent/", status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_TTL_S, httponly=True, samesite="lax", path="/")
    log.info("console login", extra={"event": "agent.login", "user": user.id})
    return response


@router.post("/logout", include_in_schema=False)
def logout_submit(request: Request, state: StateDep, service: ServiceDep) -> Response:
    user = current_user(request)
    token = request.cookies.get(SESSION_COOKIE)
    if user is not None and user.has("agent"):
        service.store.set_agent_status(user.id, "offline")
    if token:
        logout(state.engine, token)
    response = RedirectResponse("/agent/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("", include_in_schema=False)
@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def console_page(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return RedirectResponse("/agent/login", status_code=303)
    if not user.has("agent"):
        return RedirectResponse("/agent/login?error=role", status_code=303)
    return _page("agent_console.html")


@router.get("/assets/{name}", include_in_schema=False)
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(status_code=404)
    return FileResponse(WEB_DIR / "static" / name, media_type=ASSETS[name])


# ---- JSON API ---------------------------------------------------------------------------------
def summarize(row: Row, service: HandoffService) -> dict[str, Any]:
    card = card_of(row)
    last_user = next((t["text"] for t in reversed(card.get("turns") or []) if t.get("role") == "user"), "")
    return {
        "id": row.id, "status": row.status, "status_label": STATUS_LABELS.get(row.status, row.status),
        "kind": row.kind, "reason": row.reason, "reason_label": REASON_LABELS.get(row.reason, row.reason),
        "skill": row.skill, "skill_label": SKILL_LABELS.get(row.skill, row.skill),
        "channel": row.channel, "channel_label": CHANNEL_LABELS.get(row.channel, row.channel),
        "user": card.get("user", ""), "nickname": card.get("nickname", ""),
        "agent_id": row.agent_id, "agent_name": service.agent_name(row.agent_id) if row.agent_id else None,
        "created_at": row.created_at, "queued_at": row.queued_at, "assigned_at": row.assigned_at,
        "ended_at": row.ended_at, "last_message_at": row.last_message_at, "wait_s": row.wait_s,
        "duration_s": row.duration_s, "rating": row.rating, "end_reason": row.end_reason,
        "notified_at": row.notified_at, "notify_error": row.notify_error, "preview": last_user[:60],
    }


def _message(row: Row) -> dict[str, Any]:
    return {"id": row.id, "role": row.role, "text": row.text, "author": row.author, "delivery": row.delivery,
            "at": row.created_at}


def _visible(row: Optional[Row], user: User) -> Row:
    """Agents see the queue and their own hand-offs; admins see everything."""
    if row is None:
        raise HTTPException(status_code=404, detail="会话不存在")
    if user.has("admin") or row.status in (QUEUED, CALLBACK) or row.agent_id == user.id:
        return row
    raise HTTPException(status_code=403, detail="这是其他客服接待的会话")


def _fail(exc: HandoffError) -> HTTPException:
    return HTTPException(status_code=exc.status, detail=exc.message)


@router.get("/api/me")
def me(user: AgentUser, service: ServiceDep) -> dict[str, Any]:
    agent = service.store.ensure_agent(user.id)
    return {"user": {"id": user.id, "username": user.username, "name": user.display_name, "role": user.role,
                     "wecom_userid": user.wecom_userid},
            "agent": {"status": agent.status, "skills": sorted(agent.skills), "capacity": agent.capacity,
                      "active_chats": agent.active_chats},
            "skills": [{"id": s, "label": SKILL_LABELS[s]} for s in SKILLS]}


class StatusIn(BaseModel):
    status: str = Field(..., pattern="^(online|busy|offline)$")


@router.post("/api/status")
def set_status(body: StatusIn, user: AgentUser, service: ServiceDep) -> dict[str, Any]:
    agent = service.store.set_agent_status(user.id, body.status)
    if body.status == "online":
        service.dispatch()
    log.info("agent status", extra={"event": "agent.status", "user": user.id, "status": body.status})
    return {"status": agent.status}


@router.get("/api/queue")
def queue(user: AgentUser, service: ServiceDep) -> dict[str, Any]:
    store = service.store
    waiting = store.list([QUEUED])
    return {
        "queued": [summarize(r, service) for r in waiting],
        "callbacks": [summarize(r, service) for r in store.list([CALLBACK])],
        "mine": [summarize(r, service) for r in store.list([ACTIVE], agent_id=user.id)],
        "recent": [summarize(r, service) for r in store.recent(10, agent_id=None if user.has("admin") else user.id)],
        "service_hours": service.hours.label(),
        "open_now": service.hours.is_open(service.now_dt()),
    }


@router.get("/api/handoffs/{handoff_id}")
def handoff_detail(handoff_id: PathId, user: AgentUser, service: ServiceDep) -> dict[str, Any]:
    row = _visible(service.store.get(handoff_id), user)
    return {"handoff": summarize(row, service), "card": card_of(row),
            "messages": [_message(m) for m in service.store.messages(handoff_id)]}


@router.get("/api/handoffs/{handoff_id}/messages")
def handoff_messages(handoff_id: PathId, user: AgentUser, service: ServiceDep,
                     after: int = Query(0, ge=0, le=MAX_ID)) -> dict[str, Any]:
    row = _visible(service.store.get(handoff_id), user)
    return {"status": row.status, "messages": [_message(m) for m in service.store.messages(handoff_id, after)]}


@router.post("/api/handoffs/{handoff_id}/claim")
def claim(handoff_id: PathId, user: AgentUser, service: ServiceDep) -> dict[str, Any]:
    try:
        row = service.claim(handoff_id, user.id)
    except HandoffError as exc:
        raise _fail(exc) from None
    return {"handoff": summarize(row, service)}


class ReplyIn(BaseModel):
    text: str = Field(..., min_length=1, max_length=2000)


@router.post("/api/handoffs/{handoff_id}/messages")
def reply(handoff_id: PathId, body: ReplyIn, user: AgentUser, service: ServiceDep) -> dict[str, Any]:
    try:
        message_id, delivery = service.agent_reply(handoff_id, user.id, body.text)
    except HandoffError as exc:
        raise _fail(exc) from None
    return {"id": message_id, "delivery": delivery}


@router.post("/api/handoffs/{handoff_id}/end")
def end(handoff_id: PathId, user: AgentUser, service: ServiceDep) -> dict[str, Any]:
    row = _visible(service.store.get(handoff_id), user)
    if row.status == ACTIVE and row.agent_id != user.id and not user.has("admin"):
        raise HTTPException(status_code=403, detail="这是其他客服接待的会话")
    ended = service.end(handoff_id, reason="agent", by=user.id)
    if ended is None:
        raise HTTPException(status_code=409, detail="会话已经结束")
    return {"handoff": summarize(ended, service)}


@router.get("/api/quick-replies")
def quick_replies(user: AgentUser, state: StateDep, q: str = Query(..., min_length=1, max_length=500),
                  product: Optional[str] = None) -> dict[str, Any]:
    """Knowledge-base answers the agent can insert (same index as the bot)."""
    try:
        index = state.knowledge.index
    except IndexNotReady:
        raise HTTPException(status_code=503, detail="知识库尚未就绪") from None
    result = index.search(q, top_k=3, context_product=product)
    return {"answerable": result.answerable,
            "replies": [{"id": h.id, "title": h.title, "text": h.text, "citation": h.citation, "score": h.score}
                        for h in result.hits]}


@router.get("/api/agents")
def list_agents(user: AgentUser, service: ServiceDep) -> dict[str, Any]:
    return {"agents": [{"user_id": a.user_id, "name": service.agent_name(a.user_id), "status": a.status,
                        "skills": sorted(a.skills), "capacity": a.capacity, "active_chats": a.active_chats,
                        "assigned_total": a.assigned_total} for a in service.store.agent_loads()]}


class AgentIn(BaseModel):
    skills: list[str] = Field(..., min_length=1)
    capacity: Optional[int] = Field(None, ge=1, le=50)


@router.put("/api/agents/{user_id}")
def set_agent(user_id: PathId, body: AgentIn, admin: AdminUser, service: ServiceDep) -> dict[str, Any]:
    if service.directory.by_id(user_id) is None:
        raise HTTPException(status_code=404, detail="用户不存在")
    try:
        agent = service.store.set_agent_skills(user_id, body.skills, body.capacity)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return {"user_id": user_id, "skills": sorted(agent.skills), "capacity": agent.capacity}
