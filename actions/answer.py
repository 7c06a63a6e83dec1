"""`action_answer_question`: answer from the FAQ or a clause (with citation), or say we cannot.

Also the landing point for low-confidence NLU turns and out-of-scope messages. Two consecutive
unanswerable turns escalate to a human (action_escalate_to_agent).
"""
from __future__ import annotations

import logging
import re
from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge_client import KnowledgeUnavailable, search_knowledge
from actions.unanswered import report_miss

log = logging.getLogger(__name__)

MISSES_BEFORE_ESCALATION = 2
MAX_EXCERPT_CHARS = 260
_WORD_RE = re.compile(r"[\w\u4e00-\u9fff]")

CANNOT_ANSWER = ("这个问题我暂时无法准确回答，怕说错误导您😔。您可以换个说法再问我，"
                 "或者回复“转人工”，由人工客服为您解答（每天09:00-22:00在线）。")
SERVICE_DOWN = ("抱歉，知识库暂时无法访问，我现在没法准确回答。您可以稍后再问，"
                "或回复“转人工”由人工客服为您处理。")
NOT_A_QUESTION = "我没太看懂您的意思😅 可以用文字描述一下您的问题吗？比如“百万医疗险等待期多久”。"
WHICH_PRODUCT = ("请问您想了解哪款产品的免责条款？我们有：百万医疗险、综合意外险、重大疾病保险、"
                 "手机碎屏险、台风天气险、网约车司机专属意外险。")


def format_answer(hit: dict[str, Any]) -> str:
    """A FAQ answer with its source, or a clause excerpt with its citation."""
    if hit["kind"] == "faq":
        return f"{hit['text']}\n（参考：{hit['citation']}）"
    label = hit["citation"].split("》", 1)[-1].split()[0] if "》" in hit["citation"] else ""
    excerpt = hit["text"][len(label):].lstrip(" ：:") if label and hit["text"].startswith(label) else hit["text"]
    if len(excerpt) > MAX_EXCERPT_CHARS:
        excerpt = excerpt[:MAX_EXCERPT_CHARS].rstrip() + "……"
    return f"根据{hit['citation']}：\n{excerpt}\n（以上为条款摘录，具体以保险合同为准）"


def _misses(tracker: Tracker) -> int:
    return int(tracker.get_slot("knowledge_misses") or 0)


class ActionAnswerQuestion(Action):
    def name(self) -> str:
        return "action_answer_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        text = (tracker.latest_message.get("text") or "").strip()
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if not _WORD_RE.search(text) or text.startswith("/"):
            dispatcher.utter_message(text=NOT_A_QUESTION)
            return []
        context_product: Optional[str] = tracker.get_slot("product")
        try:
            result = await search_knowledge(text, context_product)
        except KnowledgeUnavailable as exc:
            log.warning("knowledge search unavailable", extra={"event": "answer.unavailable", "error": str(exc)})
            dispatcher.utter_message(text=SERVICE_DOWN)
            return [SlotSet("knowledge_misses", float(_misses(tracker) + 1))]

        hits = result.get("hits") or []
        events: list[EventType] = []
        if result.get("product") and result["product"] != context_product:
            events.append(SlotSet("product", result["product"]))
        if result.get("answerable") and hits:
            top = hits[0]
            dispatcher.utter_message(text=format_answer(top))
            log.info("answered", extra={"event": "answer.hit", "id": top["id"], "score": top["score"], "intent": intent})
            return events + [SlotSet("knowledge_misses", 0.0), SlotSet("last_answer_id", top["id"]),
                             SlotSet("last_answer_score", float(top["score"]))]

        misses = _misses(tracker) + 1
        log.info("unanswerable", extra={"event": "answer.miss", "misses": misses, "intent": intent,
                                        "reason": result.get("reason"), "top": hits[0]["id"] if hits else None})
        events += [SlotSet("knowledge_misses", float(misses)), SlotSet("last_answer_id", None),
                   SlotSet("last_answer_score", float(hits[0]["score"]) if hits else 0.0)]
        if intent == "ask_exclusions" and not (result.get("product") or context_product):
            dispatcher.utter_message(text=WHICH_PRODUCT)
            return events
        report_miss(text, sender_id=tracker.sender_id, channel=(tracker.get_latest_input_channel() or ""),
                    reason=result.get("reason") or "", top_id=hits[0]["id"] if hits else None,
                    confidence=result.get("confidence"))  # ops console: unanswered-question mining
        if misses >= MISSES_BEFORE_ESCALATION:
            dispatcher.utter_message(text="这个问题我还是没法准确回答，我帮您转接人工客服。")
            return events + [SlotSet("knowledge_misses", 0.0), FollowupAction("action_escalate_to_agent")]
        dispatcher.utter_message(text=CANNOT_ANSWER)
        return events
