"""Report to the ops console, fire-and-forget: a question the bot could not answer (`POST /api/unanswered`)
and the option a user picked after a clarification (`POST /api/clarifications`).

The question is redacted here (common.masking: ID/phone/card numbers, e-mail, address, names and
reference numbers become labels) before it leaves the action server, and again by the web service
before it is stored. Failures are logged and never delay or break the reply.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Coroutine, Optional, Sequence

import httpx

from actions.web_client import web_client, web_url
from common.masking import redact_text

log = logging.getLogger(__name__)
REPORT_TIMEOUT_S = 2.0
MAX_OPTIONS = 10  # what POST /api/clarifications accepts
_pending: set[asyncio.Task] = set()  # strong references until done (the loop keeps only weak ones)


async def _post(payload: dict[str, Any], path: str = "/api/unanswered", event: str = "answer.miss_report_failed",
                what: str = "unanswered question") -> None:
    try:
        await web_client().post(f"{web_url()}{path}", json=payload, timeout=REPORT_TIMEOUT_S)
    except httpx.HTTPError as exc:
        log.warning(f"{what} not reported", extra={"event": event, "error": type(exc).__name__})


def _schedule(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop (sync caller): skip rather than block
        return
    task = loop.create_task(make())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


def report_miss(question: str, *, sender_id: str = "", channel: str = "", reason: str = "",
                top_id: Optional[str] = None, confidence: Optional[float] = None) -> None:
    """Schedule the report on the running loop and return at once."""
    payload = {"question": redact_text(question, reference_numbers=True)[:2000], "sender_id": sender_id[:200], "channel": (channel or "")[:32],
               "reason": (reason or "")[:32], "top_id": top_id, "confidence": confidence}
    _schedule(lambda: _post(payload))


def report_choice(question: str, *, chosen_id: str, options: Sequence[str], sender_id: str = "",
                  channel: str = "") -> None:
    """The user answered a clarification ("您是想问：1… 2… 3…") by picking `chosen_id` among `options`
    (knowledge item ids, in the order shown): schedule the report on the running loop and return at once.
    `question` is the user's original question, the one the clarification was about."""
    payload = {"question": redact_text(question, reference_numbers=True)[:2000], "chosen_id": str(chosen_id)[:120],
               "options": [str(o)[:120] for o in options][:MAX_OPTIONS], "sender_id": (sender_id or "")[:200],
               "channel": (channel or "")[:32]}
    _schedule(lambda: _post(payload, "/api/clarifications", "answer.choice_report_failed", "clarification choice"))
