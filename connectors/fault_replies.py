"""What the channels say and replay when a turn meets a fault (Rasa-free, so both venvs test it).

Used by :mod:`connectors.turn_guard` (the Rasa side): the apology added when custom actions failed,
and the answer of a turn that already ran, rebuilt from the tracker's events.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from connectors.messages import REPLY_ERROR

HANDOFF_ACTION = "action_escalate_to_agent"
# the action server is down or failing: polite, and offers a human (the WeChat menu's 人工客服 and
# the WeCom kf session still reach one when the bot cannot)
REPLY_ACTION_FAILED = REPLY_ERROR
# the failing action is the hand-off itself: offering "回复转人工" again would loop
REPLY_HANDOFF_UNAVAILABLE = ("抱歉，转接人工客服暂时没有成功🙏 请过几分钟再回复“转人工”，"
                             "我们会尽快为您安排；您的问题我们不会遗漏。")


def apology_for(failed_actions: List[str]) -> str:
    """What to add to a turn's messages when these custom actions failed."""
    return REPLY_HANDOFF_UNAVAILABLE if HANDOFF_ACTION in failed_actions else REPLY_ACTION_FAILED


def replayed_messages(events: List[Dict[str, Any]], message_id: str) -> Optional[List[Dict[str, Any]]]:
    """The bot messages that answered the user event ``message_id``; None if there is no such event.

    ``events`` are tracker events as dicts (``Event.as_dict()``, as in Rasa's HTTP API); the result is
    in CollectingOutputChannel's format, so the channels render a replay exactly like a live turn.
    """
    start = None
    for index, event in enumerate(events):
        if event.get("event") == "user" and message_id and event.get("message_id") == message_id:
            start = index
    if start is None:
        return None
    messages: List[Dict[str, Any]] = []
    for event in events[start + 1:]:
        if event.get("event") == "user":
            break
        if event.get("event") == "bot":
            data = {k: v for k, v in (event.get("data") or {}).items() if v}
            message = {"text": event.get("text"), **data}
            messages.append({k: v for k, v in message.items() if v is not None})
    return messages
