"""Application factory: wiring only (settings, state, routers). Run: uvicorn web.main:create_app --factory."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator, Optional

from fastapi import FastAPI

from common.logging_setup import configure_logging
from common.secret_check import check_production_secrets
from common.settings import Settings, load_settings
from web.routes import health, knowledge
from web.routes import simulator
from web.routes import quotes
from web.routes import console, kb_admin, ops_api
from web import handoff_runtime, privacy_runtime
from web.routes import agent_console, handoff
from web.routes import privacy
from web.state import AppState


def create_app(settings: Optional[Settings] = None, *, state: Optional[AppState] = None) -> FastAPI:
    settings = settings or load_settings()
    check_production_secrets(settings, "web service")   # outside development: no default secrets
    configure_logging(settings.log_level)
    app_state = state or AppState.create(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        privacy_runtime.start(app)   # transcript keys check, agent-turn recorder, retention purge
        app_state.start()
        handoff_runtime.start(app)   # hand-off relay + sweep
        yield
        handoff_runtime.stop(app)
        privacy_runtime.stop(app)
        app_state.stop()

    app = FastAPI(title="保险小助手 web service", version="0.1.0", lifespan=lifespan)
    app.state.app_state = app_state
    app.include_router(health.router)
    app.include_router(knowledge.router)
    app.include_router(simulator.router)
    app.include_router(quotes.router)
    app.include_router(console.router)
    app.include_router(kb_admin.router)
    app.include_router(ops_api.router)
    app.include_router(handoff.router)
    app.include_router(agent_console.router)
    app.include_router(privacy.router)
    logging.getLogger(__name__).info("web app created", extra={"event": "web.created"})
    return app
