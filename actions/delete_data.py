"""`action_delete_my_data`: the user asked to delete their chat data and confirmed; erase it everywhere.

The question and the confirmation are rules (bot/data/rules.yml): 删除我的聊天记录 ->
utter_confirm_delete_data -> 确认 -> this action; 不用了 -> utter_delete_data_cancelled. The work is
in transcripts.erasure (transcripts, hand-off records, unanswered-question rows, quote records, the
Rasa tracker events of this conversation), run in a thread so the action server's loop stays free.
``len(tracker.events)`` lets the erasure leave Rasa's tracker store consistent for the end of this
turn (see transcripts/tracker_events.py). Users on legal hold are told their data must be kept.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import AllSlotsReset, EventType
from rasa_sdk.executor import CollectingDispatcher

log = logging.getLogger(__name__)

DONE = ("已为您删除在这里的全部聊天记录及相关数据（与小助手和人工客服的对话、转人工记录、报价记录、未解答问题记录），"
        "删除后无法恢复。保单、理赔等业务资料不受影响；账户注销请联系人工客服办理。")
HELD = ("抱歉，根据法律法规或监管要求，您的部分记录目前需要依法保留，暂时无法删除；保留期满或相关事项结束后会按规定删除。"
        "如有疑问，请回复“转人工”联系客服。")
FAILED = "抱歉，删除没有全部完成。请稍后再说一次“删除我的聊天记录”重试，或回复“转人工”由客服为您处理。"


class ActionDeleteMyData(Action):
    def name(self) -> Text:
        return "action_delete_my_data"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        from transcripts.erasure import erase_in_chat   # imported on use: the action server starts light

        try:
            result = await asyncio.to_thread(erase_in_chat, tracker.sender_id, len(tracker.events))
        except Exception as exc:
            log.error("erasure failed", extra={"event": "privacy.erase_failed", "error": type(exc).__name__})
            dispatcher.utter_message(text=FAILED)
            return []
        if result.held:
            dispatcher.utter_message(text=HELD)
            return []
        dispatcher.utter_message(text=DONE)
        return [AllSlotsReset()]
