"""`action_escalate_to_agent`: hand the conversation to a human agent (logic in handoff/ and the web service).

The action builds the masked context card (handoff.card), asks the knowledge base for a suggested
reply, and enqueues the hand-off with the web service (`POST {WEB_URL}/api/handoff/escalations`),
which decides live hand-off vs callback ticket (service hours, agents on duty) and routes it.
Live hand-off: end any form and pause the conversation, so the bot stays silent until the web
service resumes it. Callback ticket (outside hours / nobody on duty): no pause, the bot keeps helping.

Other actions can escalate with an explicit reason, e.g. the quote flow for a sale the bot may not
make: ``return await escalate(dispatcher, tracker, reason="sale")`` — or return
``FollowupAction("action_escalate_to_agent")`` inside the quote form (the reason is then inferred
as "sale").
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional

import httpx
from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge_client import KnowledgeUnavailable, search_knowledge
from actions.web_client import web_client, web_url
from handoff.card import build_card, infer_reason, question_for_suggestion
from handoff.texts import UNAVAILABLE

log = logging.getLogger(__name__)

ESCALATION_TIMEOUT_S = 4.0
SUGGESTION_TIMEOUT_S = 2.5
PAUSE_EVENTS: list[EventType] = [ActiveLoop(None), SlotSet("requested_slot", None), ConversationPaused()]


async def _suggestion(question: Optional[str], product: Optional[str]) -> Optional[dict[str, Any]]:
    if not question:
        return None
    try:
        return await asyncio.wait_for(search_knowledge(question, product, top_k=1), SUGGESTION_TIMEOUT_S)
    except (KnowledgeUnavailable, asyncio.TimeoutError):
        return None


async def request_handoff(payload: dict[str, Any]) -> dict[str, Any]:
    resp = await web_client().post(f"{web_url()}/api/handoff/escalations", json=payload,
                                   timeout=ESCALATION_TIMEOUT_S)
    resp.raise_for_status()
    return resp.json()


async def escalate(dispatcher: CollectingDispatcher, tracker: Tracker,
                   reason: Optional[str] = None) -> list[EventType]:
    """Enqueue a hand-off for this conversation; the events to return from the calling action."""
    latest = tracker.latest_message or {}
    intent = (latest.get("intent") or {}).get("name")
    reason = reason or infer_reason(intent, tracker.active_loop_name, tracker.slots)
    channel = tracker.get_latest_input_channel() or "rest"
    metadata = latest.get("metadata") or {}
    nickname = metadata.get("nickname") if isinstance(metadata, dict) else None
    events = list(tracker.events or [])
    suggestion = await _suggestion(question_for_suggestion(events), tracker.get_slot("product"))
    card = build_card(conversation_id=tracker.sender_id, channel=channel, events=events, slots=tracker.slots,
                      latest_message=latest, reason=reason, nickname=nickname, suggestion=suggestion)
    done: list[EventType] = [SlotSet("knowledge_misses", 0.0)]
    try:
        result = await request_handoff({"conversation_id": tracker.sender_id, "channel": channel,
                                        "reason": reason, "card": card})
    except (httpx.HTTPError, ValueError) as exc:
        log.error("hand-off service unavailable", extra={"event": "handoff.unavailable", "error": type(exc).__name__})
        dispatcher.utter_message(text=UNAVAILABLE)
        return done
    if not result.get("delivered") and result.get("message"):
        dispatcher.utter_message(text=result["message"])
    log.info("hand-off requested", extra={"event": "handoff.action", "handoff": result.get("handoff_id"),
                                          "status": result.get("status"), "reason": reason})
    return done + (PAUSE_EVENTS if result.get("pause") else [])


class ActionEscalateToAgent(Action):
    def name(self) -> str:
        return "action_escalate_to_agent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        return await escalate(dispatcher, tracker)
