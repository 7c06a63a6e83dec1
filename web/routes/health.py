"""Liveness (`/livez`: this process answers) and health (`/healthz`: every component, 503 if one is down).

Redis (with REDIS_URL) is reported but never fails the check: every user of it falls back to local
mode while it is down (docs/deployment.md), and a 503 from every replica at once would make the load
balancer drop a service that still answers.
"""
from __future__ import annotations

import asyncio
from typing import Any, Optional

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from web.deps import StateDep

router = APIRouter(tags=["health"])
PROBE_TIMEOUT_S = 2.0


@router.get("/livez")
def livez() -> dict:
    return {"status": "up"}


async def _probe_http(url: str, params: Optional[dict[str, str]] = None) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:
            resp = await client.get(url, params=params)
        if resp.status_code in (401, 403):
            return {"status": "down", "detail": f"HTTP {resp.status_code}: RASA_AUTH_TOKEN rejected"}
        if resp.status_code < 500:
            return {"status": "up"}
        return {"status": "down", "detail": f"HTTP {resp.status_code}"}
    except httpx.HTTPError as exc:
        return {"status": "down", "detail": type(exc).__name__}


def _rasa_probe(settings) -> tuple[str, Optional[dict[str, str]]]:
    """With RASA_AUTH_TOKEN set, probe the authenticated /status so a wrong token shows as down."""
    if settings.rasa_auth_token:
        return settings.rasa_url + "/status", {"token": settings.rasa_auth_token}
    return settings.rasa_url + "/", None


def _probe_database(state) -> dict[str, Any]:
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "up", "dialect": state.engine.dialect.name}
    except Exception as exc:  # any driver error means "down"; the type is enough for an operator
        return {"status": "down", "detail": type(exc).__name__}


def _probe_knowledge(state) -> dict[str, Any]:
    service = state.knowledge
    if service.ready:
        return {"status": "up", "version": service.version, **service.index.stats}
    return {"status": "down", "detail": service.last_error or "building"}


def _probe_redis(url: str) -> dict[str, Any]:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT_S, socket_connect_timeout=PROBE_TIMEOUT_S)
        try:
            client.ping()
        finally:
            client.close()
        return {"status": "up"}
    except Exception as exc:  # any client error: report it, the replicas run in local mode meanwhile
        return {"status": "down", "detail": type(exc).__name__, "impact": "local mode (not shared)"}


@router.get("/healthz")
async def healthz(state: StateDep) -> JSONResponse:
    settings = state.settings
    action_health = settings.action_server_url.rsplit("/", 1)[0] + "/health"
    rasa, actions = await asyncio.gather(_probe_http(*_rasa_probe(settings)), _probe_http(action_health))
    database = await asyncio.to_thread(_probe_database, state)
    components = {"rasa_core": rasa, "action_server": actions, "knowledge_index": _probe_knowledge(state),
                  "database": database}
    ok = all(c["status"] == "up" for c in components.values())
    body: dict[str, Any] = {"status": "up" if ok else "down", "components": components}
    if settings.redis_url:
        body["optional"] = {"redis": await asyncio.to_thread(_probe_redis, settings.redis_url)}
    return JSONResponse(body, status_code=200 if ok else 503)
