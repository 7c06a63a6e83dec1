"""Wires the hand-off service into the web app: one service + one background worker per process.

``start(app)`` / ``stop(app)`` are called from the app's lifespan (web/main.py); routers get the
service with :func:`get_service`.
"""
from __future__ import annotations

import logging
import threading
from typing import Optional

from fastapi import FastAPI, Request
from sqlalchemy import select
from sqlalchemy.engine import Engine

from handoff.delivery import ChannelDelivery, WeComAgentNotifier, shared_store
from handoff.hours import ServiceHours
from handoff.rasa_client import RasaClient
from handoff.service import AgentInfo, HandoffConfig, HandoffService
from handoff.store import HandoffStore
from handoff.worker import HandoffWorker
from storage.db import create_all
from web import privacy_runtime
from web.auth import users

log = logging.getLogger(__name__)
_lock = threading.Lock()


class UserDirectory:
    """Agents' names and WeCom ids from the console's users table (web/auth.py)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _one(self, where) -> Optional[AgentInfo]:
        with self.engine.connect() as conn:
            row = conn.execute(select(users.c.id, users.c.display_name, users.c.username, users.c.wecom_userid,
                                      users.c.role).where(where, users.c.active == 1)).first()
        return AgentInfo(row.id, row.display_name or row.username, row.wecom_userid, row.role) if row else None

    def by_id(self, user_id: int) -> Optional[AgentInfo]:
        return self._one(users.c.id == user_id)

    def by_wecom(self, wecom_userid: str) -> Optional[AgentInfo]:
        return self._one(users.c.wecom_userid == wecom_userid) if wecom_userid else None


def build_service(app_state) -> HandoffService:
    settings = app_state.settings
    engine = app_state.engine
    create_all(engine)            # the hand-off tables (declared on import of handoff.store)
    kv = shared_store(settings.redis_url, settings.var_dir)
    return HandoffService(
        store=HandoffStore(engine, default_capacity=settings.handoff_agent_capacity),
        hours=ServiceHours.from_catalogue(settings.knowledge_dir / "products.yml", settings.handoff_service_hours),
        rasa=RasaClient(settings.rasa_url, settings.rasa_auth_token),
        delivery=ChannelDelivery(kv),
        notifier=WeComAgentNotifier(kv),
        directory=UserDirectory(engine),
        config=HandoffConfig(idle_s=settings.handoff_idle_s, message_window_s=settings.handoff_message_window_s,
                             rating_window_s=settings.handoff_rating_window_s,
                             public_url=settings.public_web_url or settings.web_url),
        turn_sink=privacy_runtime.turn_sink(app_state),   # agent replies into the encrypted transcripts
    )


def service_for(app: FastAPI) -> HandoffService:
    with _lock:
        service = getattr(app.state, "handoff_service", None)
        if service is None:
            service = build_service(app.state.app_state)
            app.state.handoff_service = service
        return service


def get_service(request: Request) -> HandoffService:
    """FastAPI dependency."""
    return service_for(request.app)


def start(app: FastAPI) -> None:
    try:
        service = service_for(app)
    except Exception:   # the web service must still start (health reports the database); routes retry
        log.exception("hand-off service not started", extra={"event": "handoff.start_failed"})
        return
    settings = app.state.app_state.settings
    worker = HandoffWorker(service, poll_s=settings.handoff_poll_s)
    worker.start()
    app.state.handoff_worker = worker


def stop(app: FastAPI) -> None:
    worker = getattr(app.state, "handoff_worker", None)
    if worker is not None:
        worker.stop()
    service = getattr(app.state, "handoff_service", None)
    if service is not None:
        service.close()
        service.rasa.close()
