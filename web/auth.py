"""Users, roles and sessions for the web consoles.

Roles (ordered by power): viewer < agent < editor < admin. viewer sees analytics; agent uses the agent
console; editor edits and publishes the knowledge base; admin also manages users. Passwords are hashed
with scrypt (stdlib), sessions are random tokens stored hashed, expiring after SESSION_TTL.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Callable, Optional

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Column, Float, Integer, String, Table, delete, insert, select, update
from sqlalchemy.engine import Engine

from storage.db import metadata
from web.deps import get_state

ROLES = ("viewer", "agent", "editor", "admin")
SESSION_COOKIE = "insurebot_session"
SESSION_TTL_S = 8 * 3600
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), unique=True, nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("role", String(16), nullable=False),
    Column("display_name", String(64), nullable=False, default=""),
    Column("wecom_userid", String(64), nullable=True),   # agents: their WeCom id for notifications
    Column("active", Integer, nullable=False, default=1),
    Column("created_at", Float, nullable=False),
)

sessions = Table(
    "web_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
)


class AuthError(ValueError):
    """Bad credentials or a bad user record; the message is safe to show."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    display_name: str
    wecom_userid: Optional[str]

    def has(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt_hex), **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


def _row_to_user(row) -> User:
    return User(row.id, row.username, row.role, row.display_name or row.username, row.wecom_userid)


def create_user(engine: Engine, username: str, password: str, role: str, *, display_name: str = "",
                wecom_userid: Optional[str] = None) -> User:
    if role not in ROLES:
        raise AuthError(f"unknown role '{role}'; one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise AuthError("password must have at least 8 characters")
    if not username or len(username) > 64:
        raise AuthError("username must have 1-64 characters")
    with engine.begin() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == username)).first():
            raise AuthError(f"user '{username}' already exists")
        conn.execute(insert(users).values(username=username, password_hash=hash_password(password), role=role,
                                          display_name=display_name or username, wecom_userid=wecom_userid,
                                          active=1, created_at=time.time()))
        row = conn.execute(select(users).where(users.c.username == username)).one()
    return _row_to_user(row)


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        return [_row_to_user(r) for r in conn.execute(select(users).where(users.c.active == 1).order_by(users.c.id))]


def set_role(engine: Engine, username: str, role: str) -> None:
    if role not in ROLES:
        raise AuthError(f"unknown role '{role}'")
    with engine.begin() as conn:
        conn.execute(update(users).where(users.c.username == username).values(role=role))


def login(engine: Engine, username: str, password: str, now: Optional[float] = None) -> tuple[str, User]:
    """Returns (session token, user); raises AuthError with one message for any failure."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username, users.c.active == 1)).first()
    if row is None or not verify_password(password, row.password_hash):
        raise AuthError("用户名或密码错误")
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(insert(sessions).values(token_hash=_token_hash(token), user_id=row.id,
                                             expires_at=(now or time.time()) + SESSION_TTL_S))
    return token, _row_to_user(row)


def logout(engine: Engine, token: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.token_hash == _token_hash(token)))


def user_for_token(engine: Engine, token: str, now: Optional[float] = None) -> Optional[User]:
    now = now or time.time()
    with engine.connect() as conn:
        row = conn.execute(
            select(users).join(sessions, sessions.c.user_id == users.c.id)
            .where(sessions.c.token_hash == _token_hash(token), sessions.c.expires_at > now, users.c.active == 1)
        ).first()
    return _row_to_user(row) if row else None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def current_user(request: Request) -> Optional[User]:
    """The logged-in user from the session cookie or an `Authorization: Bearer` header, else None."""
    token = request.cookies.get(SESSION_COOKIE)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    if not token:
        return None
    return user_for_token(get_state(request).engine, token)


def require_role(role: str) -> Callable[[Request], User]:
    """FastAPI dependency: 401 when not logged in, 403 when the role is too weak."""
    if role not in ROLES:
        raise ValueError(role)

    def dependency(request: Request) -> User:
        user = current_user(request)
        if user is None:
            raise HTTPException(status_code=401, detail="login required")
        if not user.has(role):
            raise HTTPException(status_code=403, detail=f"requires role '{role}'")
        return user

    return dependency


ViewerUser = Annotated[User, Depends(require_role("viewer"))]
AgentUser = Annotated[User, Depends(require_role("agent"))]
EditorUser = Annotated[User, Depends(require_role("editor"))]
AdminUser = Annotated[User, Depends(require_role("admin"))]
