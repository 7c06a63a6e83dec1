"""`action_answer_question`: answer from the FAQ or a clause (with citation), ask back, or say we cannot.

The knowledge search decides (knowledge/decision.py): an answer; a clarification "您是想问：" with up
to three options, which the user answers with a number, the option's text or a tap on a menu
message (WeChat sends the item id as `bizmsgmenuid`/`menu_id`, the channels pass it as metadata
`menu_id`); or a refusal with the offer of a human. Choosing an option costs no search: the options'
answers came with the clarification. Two refusals in a row for want of knowledge escalate to a human
(a question about what we do not handle, or one that is not about insurance, is told so instead).

Also the landing point for low-confidence NLU turns and out-of-scope messages: a message the NLU
finds is not about insurance is only answered when it is an indexed question word for word.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge_client import KnowledgeUnavailable, search_knowledge
from actions.unanswered import report_choice, report_miss
from knowledge.textnorm import match_key

log = logging.getLogger(__name__)

MISSES_BEFORE_ESCALATION = 2
MAX_EXCERPT_CHARS = 260
_WORD_RE = re.compile(r"[\w\u4e00-\u9fff]")
_ORDINALS = {"1": 0, "2": 1, "3": 2, "一": 0, "二": 1, "三": 2, "①": 0, "②": 1, "③": 2}
_CHOICE_RE = re.compile(r"^(?:选|是|就是|要)?第?([123一二三①②③])(?:个|条|项|种)?(?:吧|呀|啊|的|问题)?[.。、,，!！\s]*$")
_NONE_OF_THEM = re.compile(r"^(都不是|都不对|不是|没有|都没有|没有我想问的|不是这些)[啊呀的吧。.!！\s]*$")
_YES = re.compile(r"^(是|是的|对|对的|对啊|嗯|嗯嗯|好|好的|没错|就是这个|就这个)[啊呀的吧。.!！\s]*$")

CANNOT_ANSWER = ("这个问题我暂时无法准确回答，怕说错误导您😔。您可以换个说法再问我，"
                 "或者回复“转人工”，由人工客服为您解答（每天09:00-22:00在线）。")
NOT_OURS = ("这个问题涉及{term}，不在我们的产品和服务范围内，我没法准确回答，以免误导您😔。"
            "我们的产品是：百万医疗险、综合意外险、重大疾病保险、手机碎屏险、台风天气险、网约车司机专属意外险；"
            "如需帮助可回复“转人工”（每天09:00-22:00在线）。")
NOT_INSURANCE = ("我是保险小助手，只能解答保险相关的问题（产品、投保、理赔、保单、退保）😊 "
                 "这个我帮不上忙；有保险方面的问题随时问我，也可以回复“转人工”。")
SERVICE_DOWN = ("抱歉，知识库暂时无法访问，我现在没法准确回答。您可以稍后再问，"
                "或回复“转人工”由人工客服为您处理。")
NOT_A_QUESTION = "我没太看懂您的意思😅 可以用文字描述一下您的问题吗？比如“百万医疗险等待期多久”。"
WHICH_PRODUCT = ("请问您想了解哪款产品的免责条款？我们有：百万医疗险、综合意外险、重大疾病保险、"
                 "手机碎屏险、台风天气险、网约车司机专属意外险。")
ESCALATING = "这个问题我还是没法准确回答，我帮您转接人工客服。"
CLARIFY_HEAD = "您是想问："
CLARIFY_TAIL = "都不是的话，换个说法问我～"
REPHRASE = "好的～那您换个说法描述一下问题吧，比如说说是哪款产品、想了解哪方面。"
WHICH_NUMBER = "请回复 1 到 {n} 之间的数字选择问题；都不是的话，换个说法问我～"
# a refusal of these kinds is about the message, not a gap in what we know: no follow-up carries it over
NOT_CARRIED_OVER = ("foreign_term",)


def _excerpt(hit: dict[str, Any]) -> str:
    label = hit["citation"].split("》", 1)[-1].split()[0] if "》" in hit["citation"] else ""
    excerpt = hit["text"][len(label):].lstrip(" ：:") if label and hit["text"].startswith(label) else hit["text"]
    if len(excerpt) > MAX_EXCERPT_CHARS:
        excerpt = excerpt[:MAX_EXCERPT_CHARS].rstrip() + "……"
    return excerpt


def format_answer(hit: dict[str, Any], companion: Optional[dict[str, Any]] = None) -> str:
    """A FAQ answer with its source (and the clause article behind it), or a clause excerpt with its
    citation (and the FAQ that explains it)."""
    if hit["kind"] == "faq":
        basis = f"；条款依据：{companion['citation']}" if companion and companion["kind"] == "clause" else ""
        return f"{hit['text']}\n（参考：{hit['citation']}{basis}）"
    see_also = f"；另见{companion['citation']}" if companion and companion["kind"] == "faq" else ""
    return f"根据{hit['citation']}：\n{_excerpt(hit)}\n（以上为条款摘录，具体以保险合同为准{see_also}）"


def clarification(choices: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The numbered list every channel can show, and the menu message WeChat can render as taps."""
    lines = [f"{n}. {c['label']}" for n, c in enumerate(choices, 1)]
    text = f"{CLARIFY_HEAD}\n" + "\n".join(lines) + f"\n回复数字即可；{CLARIFY_TAIL}"
    menu = {"head_content": CLARIFY_HEAD, "list": [{"id": c["id"], "content": c["label"]} for c in choices],
            "tail_content": CLARIFY_TAIL}
    return text, {"msgmenu": menu}


def pick_option(text: str, menu_id: Optional[str], options: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The option a reply chooses: a tapped menu item, its number (1 / 第二个 / ③ / ２), its text, or a
    yes to a single option."""
    if menu_id:
        return next((o for o in options if o["id"] == menu_id), None)
    text = unicodedata.normalize("NFKC", text).strip()
    match = _CHOICE_RE.match(text)
    if match:
        pos = _ORDINALS[match.group(1)]
        return options[pos] if pos < len(options) else None
    if len(options) == 1 and _YES.match(text):
        return options[0]
    key = match_key(text)
    return next((o for o in options if key and match_key(o["label"]) == key), None)


def is_a_number(text: str) -> bool:
    return bool(_CHOICE_RE.match(unicodedata.normalize("NFKC", text).strip()))


def just_clarified(tracker: Tracker) -> bool:
    """The bot's last action before this message was the clarification: options older than that are stale."""
    seen_user = False
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            if seen_user:
                return False
            seen_user = True
        elif kind == "action" and seen_user and event.get("name") != "action_listen":
            return event.get("name") == "action_answer_question"
    return not tracker.events  # a tracker built without history (tests, replays): trust the slots


def _menu_id(tracker: Tracker) -> Optional[str]:
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    if not metadata:
        for event in reversed(tracker.events):
            if event.get("event") == "user":
                metadata = event.get("metadata") or {}
                break
    value = metadata.get("menu_id") if isinstance(metadata, dict) else None
    return str(value) if value else None


def _misses(tracker: Tracker) -> int:
    return int(tracker.get_slot("knowledge_misses") or 0)


def _answered(choice: dict[str, Any], product: Optional[str]) -> list[EventType]:
    hit = choice["hit"]
    events: list[EventType] = [SlotSet("knowledge_misses", 0.0), SlotSet("last_answer_id", hit["id"]),
                               SlotSet("last_answer_score", float(hit["score"]))]
    if hit.get("product") and hit["product"] != product:
        events.append(SlotSet("product", hit["product"]))
    return events


CLEAR_OPTIONS: list[EventType] = [SlotSet("clarify_options", None), SlotSet("clarify_pending", False)]


class ActionAnswerQuestion(Action):
    def name(self) -> str:
        return "action_answer_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        text = (tracker.latest_message.get("text") or "").strip()
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        product: Optional[str] = tracker.get_slot("product")
        pending = tracker.get_slot("clarify_options") or []
        events: list[EventType] = list(CLEAR_OPTIONS) if pending or tracker.get_slot("clarify_pending") else []
        if pending and not just_clarified(tracker):
            pending = []  # other turns came in between: the reply is a new question
        if pending:
            chosen = pick_option(text, _menu_id(tracker), pending)
            if chosen is not None:
                dispatcher.utter_message(text=format_answer(chosen["hit"], chosen.get("companion")))
                report_choice(tracker.get_slot("clarify_question") or "", chosen_id=chosen["id"],
                              options=[o["id"] for o in pending], sender_id=tracker.sender_id,
                              channel=tracker.get_latest_input_channel() or "")
                log.info("clarification answered", extra={"event": "answer.chosen", "id": chosen["id"]})
                return events + _answered(chosen, product)
            if _NONE_OF_THEM.match(text):
                dispatcher.utter_message(text=REPHRASE)
                return events
            if is_a_number(text):  # a number that is not one of the options: ask again, keep them
                dispatcher.utter_message(text=WHICH_NUMBER.format(n=len(pending)))
                return []
        if not _WORD_RE.search(text) or text.startswith("/"):
            dispatcher.utter_message(text=NOT_A_QUESTION)
            return events
        try:
            result = await search_knowledge(text, product, previous_query=tracker.get_slot("last_question"))
        except KnowledgeUnavailable as exc:
            log.warning("knowledge search unavailable", extra={"event": "answer.unavailable", "error": str(exc)})
            dispatcher.utter_message(text=SERVICE_DOWN)
            return events + [SlotSet("knowledge_misses", float(_misses(tracker) + 1))]
        if result.get("reason") not in NOT_CARRIED_OVER:
            events.append(SlotSet("last_question", result.get("query") or text))
        decision, choices = result.get("decision"), result.get("choices") or []
        if result.get("product") and result["product"] != product:
            events.append(SlotSet("product", result["product"]))
            product = result["product"]
        not_insurance = intent == "out_of_scope" and result.get("reason") != "exact_match"
        if decision == "answer" and choices and not not_insurance:
            top = choices[0]
            dispatcher.utter_message(text=format_answer(top["hit"], top.get("companion")))
            log.info("answered", extra={"event": "answer.hit", "id": top["id"], "reason": result.get("reason"),
                                        "intent": intent})
            return events + _answered(top, product)
        # inside the quote form the next reply belongs to the form: no options to choose from there
        if decision == "clarify" and choices and not not_insurance and not tracker.active_loop_name:
            body, menu = clarification(choices)
            dispatcher.utter_message(text=body, json_message=menu)
            log.info("clarification asked", extra={"event": "answer.clarify", "options": [c["id"] for c in choices]})
            return events + [SlotSet("clarify_options", choices), SlotSet("clarify_pending", True),
                             SlotSet("clarify_question", text)]
        return events + self._refuse(dispatcher, tracker, text, intent, result, not_insurance)

    def _refuse(self, dispatcher: CollectingDispatcher, tracker: Tracker, text: str, intent: Optional[str],
                result: dict[str, Any], not_insurance: bool) -> list[EventType]:
        hits = result.get("hits") or []
        misses = _misses(tracker) + 1
        log.info("unanswerable", extra={"event": "answer.miss", "misses": misses, "intent": intent,
                                        "reason": result.get("reason"), "top": hits[0]["id"] if hits else None})
        events: list[EventType] = [SlotSet("last_answer_id", None),
                                   SlotSet("last_answer_score", float(hits[0]["score"]) if hits else 0.0)]
        if not_insurance:  # not a gap in our knowledge: nothing to mine, no escalation
            dispatcher.utter_message(text=NOT_INSURANCE)
            return events
        if result.get("reason") == "foreign_term":
            dispatcher.utter_message(text=NOT_OURS.format(term=result.get("foreign_term") or "其他机构或产品"))
            return events
        if intent == "ask_exclusions" and not (result.get("product") or tracker.get_slot("product")):
            dispatcher.utter_message(text=WHICH_PRODUCT)
            return events
        report_miss(text, sender_id=tracker.sender_id, channel=(tracker.get_latest_input_channel() or ""),
                    reason=result.get("reason") or "", top_id=hits[0]["id"] if hits else None,
                    confidence=result.get("confidence"))  # ops console: unanswered-question mining
        if misses >= MISSES_BEFORE_ESCALATION:
            dispatcher.utter_message(text=ESCALATING)
            return events + [SlotSet("knowledge_misses", 0.0), FollowupAction("action_escalate_to_agent")]
        dispatcher.utter_message(text=CANNOT_ANSWER)
        return events + [SlotSet("knowledge_misses", float(misses))]
