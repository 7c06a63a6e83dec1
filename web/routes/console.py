"""The ops console: server-rendered pages (Simplified Chinese) on top of the JSON APIs.

Login/logout live here (`/console/login`); every page checks the role it needs (a page answers
anonymous visitors with a redirect to the login page and too-weak roles with 403). The pages hold
no logic of their own: web/static/console.js calls /api/kb/*, /api/unanswered*, /api/analytics*,
/api/users and /api/audit, which enforce the same roles.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ops import audit
from web.auth import ROLES, SESSION_COOKIE, SESSION_TTL_S, AuthError, User, current_user, login, logout
from web.deps import get_state
from web.params import MAX_ID

router = APIRouter(tags=["ops console"])
WEB_DIR = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
ASSETS = {"console.js": "application/javascript", "console.css": "text/css"}
ROLE_NAMES = {"viewer": "观察员", "agent": "坐席", "editor": "编辑", "admin": "管理员"}
NAV = (  # (path, label, minimum role)
    ("/console/faq", "FAQ", "editor"), ("/console/clauses", "条款", "editor"), ("/console/rates", "费率表", "editor"),
    ("/console/test", "草稿测试", "editor"), ("/console/versions", "版本与发布", "editor"),
    ("/console/unanswered", "未答问题", "editor"), ("/console/analytics", "数据分析", "viewer"),
    ("/console/users", "用户", "admin"), ("/console/audit", "审计日志", "admin"),
)
LOGIN_FAILURES: dict[str, list[float]] = {}
MAX_FAILURES, LOCKOUT_S = 5, 300


def _guard(request: Request, role: str) -> tuple[Optional[User], Optional[Response]]:
    user = current_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return None, RedirectResponse(f"/console/login?next={quote(target)}", status_code=303)
    if not user.has(role):
        return user, _render(request, "console/forbidden.html", user, status_code=403, needed=ROLE_NAMES[role])
    return user, None


def _render(request: Request, name: str, user: Optional[User], status_code: int = 200, **context: Any) -> HTMLResponse:
    nav = [(path, label) for path, label, role in NAV if user is not None and user.has(role)]
    return templates.TemplateResponse(request, name, {"user": user, "nav": nav, "role_names": ROLE_NAMES,
                                                      "path": request.url.path, **context}, status_code=status_code)


def _page(name: str, template: str, role: str, title: str, **extra: Any):
    def handler(request: Request) -> Response:
        user, denied = _guard(request, role)
        if denied is not None:
            return denied
        return _render(request, template, user, title=title, page=name, **extra)
    handler.__name__ = f"page_{name}"
    return handler


@router.get("/console/static/{name}", include_in_schema=False)
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(status_code=404)
    return FileResponse(WEB_DIR / "static" / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})


# ---- login ------------------------------------------------------------------------------------------------
def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/console"


@router.get("/console/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = Query("/console")) -> Response:
    return _render(request, "console/login.html", None, title="登录", next=_safe_next(next), error=None)


@router.post("/console/login")
def login_submit(request: Request, username: str = Form(..., max_length=64), password: str = Form(..., max_length=200),
                 next: str = Form("/console")) -> Response:
    state = get_state(request)
    now = time.time()
    recent = [t for t in LOGIN_FAILURES.get(username, []) if now - t < LOCKOUT_S]
    if len(recent) >= MAX_FAILURES:
        return _render(request, "console/login.html", None, status_code=429, title="登录", next=_safe_next(next),
                       error="登录失败次数过多，请5分钟后再试")
    try:
        token, user = login(state.engine, username, password)
    except AuthError as exc:
        LOGIN_FAILURES[username] = recent + [now]
        return _render(request, "console/login.html", None, status_code=401, title="登录", next=_safe_next(next),
                       error=str(exc))
    LOGIN_FAILURES.pop(username, None)
    if user.has("editor"):
        audit.record(state.engine, user, "auth.login", user.username)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_TTL_S, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.post("/console/logout")
def logout_submit(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        logout(get_state(request).engine, token)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---- pages ------------------------------------------------------------------------------------------------
@router.get("/console", response_class=HTMLResponse)
def home(request: Request) -> Response:
    user, denied = _guard(request, "viewer")
    if denied is not None:
        return denied
    return RedirectResponse("/console/faq" if user.has("editor") else "/console/analytics", status_code=303)


router.add_api_route("/console/faq", _page("faq", "console/faq_list.html", "editor", "FAQ 管理"),
                     methods=["GET"], response_class=HTMLResponse)
router.add_api_route("/console/faq/new", _page("faq_new", "console/faq_edit.html", "editor", "新建 FAQ", faq_id=""),
                     methods=["GET"], response_class=HTMLResponse)


@router.get("/console/faq/{faq_id}", response_class=HTMLResponse)
def faq_edit(request: Request, faq_id: str) -> Response:
    user, denied = _guard(request, "editor")
    if denied is not None:
        return denied
    return _render(request, "console/faq_edit.html", user, title=f"编辑 {faq_id}", page="faq_edit", faq_id=faq_id)


router.add_api_route("/console/clauses", _page("clauses", "console/clauses.html", "editor", "条款文档"),
                     methods=["GET"], response_class=HTMLResponse)
router.add_api_route("/console/rates", _page("rates", "console/rates.html", "editor", "费率表"),
                     methods=["GET"], response_class=HTMLResponse)
router.add_api_route("/console/test", _page("test", "console/test.html", "editor", "草稿测试"),
                     methods=["GET"], response_class=HTMLResponse)
router.add_api_route("/console/versions", _page("versions", "console/versions.html", "editor", "版本与发布"),
                     methods=["GET"], response_class=HTMLResponse)
router.add_api_route("/console/unanswered", _page("unanswered", "console/unanswered.html", "editor", "未答问题"),
                     methods=["GET"], response_class=HTMLResponse)
router.add_api_route("/console/analytics", _page("analytics", "console/analytics.html", "viewer", "数据分析"),
                     methods=["GET"], response_class=HTMLResponse)
router.add_api_route("/console/users", _page("users", "console/users.html", "admin", "用户管理", roles=ROLES),
                     methods=["GET"], response_class=HTMLResponse)
router.add_api_route("/console/audit", _page("audit", "console/audit.html", "admin", "审计日志"),
                     methods=["GET"], response_class=HTMLResponse)


@router.get("/console/versions/diff", response_class=HTMLResponse)
def version_diff(request: Request, a: int = Query(..., ge=1, le=MAX_ID), b: int = Query(..., ge=1, le=MAX_ID)) -> Response:
    user, denied = _guard(request, "editor")
    if denied is not None:
        return denied
    from ops.store import NotFound

    try:
        docs = get_state(request).kb.diff(a, b)
    except NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    return _render(request, "console/diff.html", user, title=f"版本 {a} → {b}", page="diff", a=a, b=b, docs=docs)

