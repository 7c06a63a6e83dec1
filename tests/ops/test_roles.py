"""Role x route matrix: every ops-console page and API route, for every role and for anonymous visitors.

Expected minimum roles live in MATRIX; a route of the console that is missing here fails the test,
so a new route cannot skip the check. Allowed calls send empty/dummy input: they may answer 4xx for
that input, but never 401/403 (and pages never bounce to the login page).
"""
from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from web.auth import ROLES, SESSION_COOKIE
from web.main import create_app

from .conftest import add_users

PUBLIC = None
MATRIX = {  # (method, path): minimum role (None: public by design)
    ("GET", "/console/login"): PUBLIC, ("POST", "/console/login"): PUBLIC, ("POST", "/console/logout"): PUBLIC,
    ("GET", "/console/static/{name}"): PUBLIC,
    ("POST", "/api/unanswered"): PUBLIC,  # machine endpoint for the action server (masked, deduplicated)
    ("POST", "/api/clarifications"): PUBLIC,  # machine endpoint: the option a user picked (masked, deduplicated)
    ("GET", "/console"): "viewer", ("GET", "/console/analytics"): "viewer",
    ("GET", "/api/analytics"): "viewer", ("GET", "/api/analytics.csv"): "viewer",
    ("GET", "/console/faq"): "editor", ("GET", "/console/faq/new"): "editor", ("GET", "/console/faq/{faq_id}"): "editor",
    ("GET", "/console/clauses"): "editor", ("GET", "/console/rates"): "editor", ("GET", "/console/test"): "editor",
    ("GET", "/console/versions"): "editor", ("GET", "/console/versions/diff"): "editor",
    ("GET", "/console/unanswered"): "editor",
    ("GET", "/api/kb/status"): "editor", ("GET", "/api/kb/versions"): "editor", ("GET", "/api/kb/diff"): "editor",
    ("POST", "/api/kb/publish"): "editor", ("POST", "/api/kb/rollback"): "editor",
    ("GET", "/api/kb/faqs"): "editor", ("POST", "/api/kb/faqs"): "editor", ("GET", "/api/kb/faqs/{faq_id}"): "editor",
    ("PUT", "/api/kb/faqs/{faq_id}"): "editor", ("DELETE", "/api/kb/faqs/{faq_id}"): "editor",
    ("GET", "/api/kb/clauses"): "editor", ("GET", "/api/kb/clauses/{product_id}"): "editor",
    ("POST", "/api/kb/clauses/preview"): "editor", ("POST", "/api/kb/clauses/import"): "editor",
    ("PUT", "/api/kb/clauses/{product_id}"): "editor",
    ("GET", "/api/kb/rates"): "editor", ("GET", "/api/kb/rates/{product_id}"): "editor",
    ("POST", "/api/kb/rates/{product_id}/validate"): "editor", ("PUT", "/api/kb/rates/{product_id}"): "editor",
    ("POST", "/api/kb/test"): "editor",
    ("GET", "/api/unanswered/groups"): "editor", ("POST", "/api/unanswered/attach"): "editor",
    ("POST", "/api/unanswered/new-faq"): "editor", ("POST", "/api/unanswered/dismiss"): "editor",
    ("GET", "/api/clarifications"): "editor", ("POST", "/api/clarifications/attach"): "editor",
    ("POST", "/api/clarifications/dismiss"): "editor",
    ("GET", "/console/users"): "admin", ("GET", "/console/audit"): "admin",
    ("GET", "/api/users"): "admin", ("POST", "/api/users"): "admin", ("PUT", "/api/users/{username}"): "admin",
    ("GET", "/api/audit"): "admin",
}
OURS = ("/console", "/api/kb", "/api/unanswered", "/api/clarifications", "/api/analytics", "/api/users", "/api/audit")
DUMMY = {"{faq_id}": "faq.nope", "{product_id}": "nope", "{username}": "nobody", "{name}": "console.css"}
QUERY = {"/console/versions/diff": "?a=1&b=1", "/api/kb/diff": "?a=1&b=1"}


@pytest.fixture(scope="module")
def app_and_tokens(tmp_path_factory):
    from .conftest import make_state, ops_settings

    state = make_state(ops_settings(tmp_path_factory.mktemp("roles")))
    tokens = add_users(state)
    state.kb.ensure_seeded()
    return create_app(state.settings, state=state), tokens  # no lifespan: no index build needed here


def _url(path: str) -> str:
    for key, value in DUMMY.items():
        path = path.replace(key, value)
    return path + QUERY.get(path, "")


def test_every_console_route_is_in_the_matrix(app_and_tokens):
    from web.routes import console, kb_admin, ops_api

    routers = (console.router, kb_admin.router, ops_api.router)
    routes = {(m, r.path) for router in routers for r in router.routes if isinstance(r, APIRoute)
              for m in r.methods if m != "HEAD"}
    assert all(path.startswith(OURS) for _, path in routes)
    assert routes - set(MATRIX) == set(), "add the new route to MATRIX with its minimum role"
    assert set(MATRIX) - routes == set()


@pytest.mark.parametrize("who", [None, *ROLES])
def test_role_matrix(app_and_tokens, who):
    app, tokens = app_and_tokens
    client = TestClient(app)
    wrong = []
    for (method, path), minimum in MATRIX.items():
        if path in ("/console/login", "/console/logout"):
            continue  # logging in/out changes the session under test; covered in test_login_and_sessions
        client.cookies.clear()
        if who:
            client.cookies.set(SESSION_COOKIE, tokens[who])
        resp = client.request(method, _url(path), follow_redirects=False,
                              **({"json": {}} if method in ("POST", "PUT") and path != "/api/kb/clauses/import" else {}))
        allowed = minimum is None or (who is not None and ROLES.index(who) >= ROLES.index(minimum))
        to_login = resp.status_code == 303 and resp.headers.get("location", "").startswith("/console/login")
        denied = resp.status_code in (401, 403) or to_login
        if allowed == denied:
            wrong.append(f"{method} {path}: {who or 'anonymous'} got {resp.status_code}")
        if not allowed and who is None and path.startswith("/console"):
            assert to_login, f"{path}: anonymous visitors are sent to the login page"
        if not allowed and who is not None and path.startswith("/console"):
            assert resp.status_code == 403 and "无权访问" in resp.text
    assert not wrong, "\n".join(wrong)


def test_login_and_sessions(app_and_tokens):
    app, _ = app_and_tokens
    client = TestClient(app)
    resp = client.post("/console/login", data={"username": "editor1", "password": "wrong-password", "next": "/x"},
                       follow_redirects=False)
    assert resp.status_code == 401 and "用户名或密码错误" in resp.text
    resp = client.post("/console/login", data={"username": "editor1", "password": "correct-horse-battery",
                                               "next": "//evil.example/"}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/console"  # no open redirect
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert client.get("/api/kb/status").status_code == 200
    client.post("/console/logout", follow_redirects=False)
    assert client.get("/api/kb/status").status_code == 401
    for _ in range(5):
        client.post("/console/login", data={"username": "viewer1", "password": "nope-nope"})
    locked = client.post("/console/login", data={"username": "viewer1", "password": "correct-horse-battery"})
    assert locked.status_code == 429


def test_admin_manages_users(app_and_tokens):
    app, tokens = app_and_tokens
    admin = TestClient(app, cookies={SESSION_COOKIE: tokens["admin"]})
    assert admin.post("/api/users", json={"username": "newbie", "password": "short", "role": "viewer"}).status_code == 422
    assert admin.post("/api/users", json={"username": "newbie", "password": "long-enough-1", "role": "viewer"}
                      ).status_code == 201
    fresh = TestClient(app)
    assert fresh.post("/console/login", data={"username": "newbie", "password": "long-enough-1"},
                      follow_redirects=False).status_code == 303
    assert fresh.get("/api/kb/status").status_code == 403  # a viewer
    assert admin.put("/api/users/newbie", json={"role": "editor"}).status_code == 200
    assert fresh.get("/api/kb/status").status_code == 401  # role change signs the user out everywhere
    assert admin.put("/api/users/newbie", json={"active": False}).status_code == 200
    assert fresh.post("/console/login", data={"username": "newbie", "password": "long-enough-1"}).status_code == 401
    assert admin.put("/api/users/admin1", json={"role": "viewer"}).status_code == 422  # not yourself
    log = admin.get("/api/audit").json()
    assert log["chain"]["intact"] and {"user.create", "user.update"} <= {e["action"] for e in log["entries"]}
