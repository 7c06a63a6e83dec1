"""Report a question the bot could not answer to the ops console (`POST /api/unanswered`), fire-and-forget.

The question is redacted here (common.masking: ID/phone/card numbers, e-mail, address, names and
reference numbers become labels) before it leaves the action server, and again by the web service
before it is stored. Failures are logged and never delay or break the reply.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional

import httpx

from actions.web_client import web_client, web_url
from common.masking import redact_text

log = logging.getLogger(__name__)
REPORT_TIMEOUT_S = 2.0
_pending: set[asyncio.Task] = set()  # strong references until done (the loop keeps only weak ones)


async def _post(payload: dict[str, Any]) -> None:
    try:
        await web_client().post(f"{web_url()}/api/unanswered", json=payload, timeout=REPORT_TIMEOUT_S)
    except httpx.HTTPError as exc:
        log.warning("unanswered question not reported", extra={"event": "answer.miss_report_failed",
                                                               "error": type(exc).__name__})


def report_miss(question: str, *, sender_id: str = "", channel: str = "", reason: str = "",
                top_id: Optional[str] = None, confidence: Optional[float] = None) -> None:
    """Schedule the report on the running loop and return at once."""
    payload = {"question": redact_text(question, reference_numbers=True)[:2000], "sender_id": sender_id[:200], "channel": (channel or "")[:32],
               "reason": (reason or "")[:32], "top_id": top_id, "confidence": confidence}
    try:
        task = asyncio.get_running_loop().create_task(_post(payload))
    except RuntimeError:  # no loop (sync caller): skip rather than block
        return
    _pending.add(task)
    task.add_done_callback(_pending.discard)
