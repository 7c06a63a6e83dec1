"""Helpers shared by the two Rasa channel classes (imports Rasa/Sanic: Rasa venv only)."""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
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


def turn_runner(on_new_message: Callable[[UserMessage], Awaitable[Any]], channel: str):
    """A ``run_turn`` coroutine for the webhooks: one Rasa turn, its messages collected."""

    async def run_turn(text: str, sender_id: str, message_id: str,
                       metadata: Dict[str, Any]) -> List[Dict[str, Any]]:
        collector = CollectingOutputChannel()
        await on_new_message(UserMessage(text, collector, sender_id, input_channel=channel,
                                         message_id=message_id, metadata=metadata))
        return list(collector.messages)

    return run_turn
