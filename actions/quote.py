"""`action_fetch_quote`: quote what quote_form collected, show it, and keep the proof of display.

The quote comes from quotes.service (premium, breakdown, exclusions + clause citation, waiting
period, or a refusal with reason and alternative). The display record is written before the
message is sent: if it cannot be written, no premium is shown.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from connectors.logsafe import pseudonym
from quotes import form_plan
from quotes.audit import DisplayNotRecorded
from quotes.runtime import get_service
from quotes.service import QuoteInputError, QuoteResult

log = logging.getLogger(__name__)

INCOMPLETE = "报价信息还不完整（{what}），请再告诉我一下，比如“给我妈买百万医疗 58岁 月缴”。"
NOT_RECORDED = "抱歉，报价系统暂时繁忙，没能为您生成报价😔 请稍后再试，或回复“转人工”由人工客服为您报价。"
NO_PRODUCT = "请问想了解哪款产品的价格？可选：" + form_plan.PRODUCT_MENU + "。"


def _quote_and_show(tracker: Tracker) -> QuoteResult:
    service = get_service()
    request = form_plan.request_from_slots(tracker.slots)
    result = service.quote(request, partial=True)
    return service.show(result, user_id=tracker.sender_id or "", channel=tracker.get_latest_input_channel() or "rasa",
                        understood_from=tracker.get_slot("quote_evidence") or None)


class ActionFetchQuote(Action):
    def name(self) -> str:
        return "action_fetch_quote"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        if not tracker.get_slot("quote_product"):
            dispatcher.utter_message(text=NO_PRODUCT)
            return []
        try:
            result = await asyncio.to_thread(_quote_and_show, tracker)
        except QuoteInputError as exc:
            log.warning("quote incomplete", extra={"event": "quote.incomplete", "field": exc.field,
                                                   "user": pseudonym(tracker.sender_id or "")})
            dispatcher.utter_message(text=INCOMPLETE.format(what=exc.field))
            return [SlotSet("quote_alternative", None)]
        except DisplayNotRecorded as exc:
            log.error("quote display not recorded: quote withheld", extra={
                "event": "quote.not_recorded", "error": str(exc), "user": pseudonym(tracker.sender_id or "")})
            dispatcher.utter_message(text=NOT_RECORDED)
            return [SlotSet("quote_alternative", None)]
        dispatcher.utter_message(text=result.message)
        log.info("quote shown", extra={"event": "quote.shown", "quote_id": result.quote_id,
                                       "product": result.product.id, "eligible": result.eligible,
                                       "user": pseudonym(tracker.sender_id or "")})
        return [SlotSet("quote_id", result.quote_id),
                SlotSet("product", result.product.id),
                SlotSet("quote_alternative", result.alternative.id if result.alternative else None)]
