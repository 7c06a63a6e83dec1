"""Helpers shared by the two Rasa channel classes (imports Rasa/Sanic: Rasa venv only)."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, Optional

from sanic.request import Request

from common.logging_setup import KeyValueFormatter
from connectors.security import MAX_BODY_BYTES, ascii_int


def query_of(request: Request) -> Dict[str, str]:
    """First value of each query parameter."""
    return {key: request.args.get(key) or "" for key in request.args}


async def read_limited(request: Request, limit: int = MAX_BODY_BYTES) -> Optional[bytes]:
    """Read a streamed body; None as soon as it exceeds ``limit`` (nothing larger is buffered)."""
    length = ascii_int(request.headers.get("content-length", ""), 20)
    if length is not None and length > limit:
        return None
    body = bytearray()
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            return None


def configure_connector_logging(level: str) -> None:
    """key=value lines for the ``connectors`` loggers (Rasa's own handlers drop ``extra`` fields)."""
    logger = logging.getLogger("connectors")
    if any(isinstance(h.formatter, KeyValueFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


def agent_ready(app: Any) -> bool:
    """Rasa's model is loaded: a turn now gets a real answer, not "not ready"."""
    agent = getattr(app.ctx, "agent", None)
    return agent is not None and agent.is_ready()


async def once_the_model_is_loaded(app: Any, then: Callable[[], Awaitable[Any]]) -> None:
    """Background work of a channel that runs bot turns (orphan sweep, kf catch-up) waits for the model."""
    while not agent_ready(app):
        await asyncio.sleep(1.0)
    await then()
