"""`quote_form` helpers: `validate_quote_form` (extraction + validation) and the `action_ask_<slot>` questions.

Thin adapters: the rules live in quotes/form_plan.py and quotes/parsing.py (unit tested). Slots are
read from the whole message in one go, not from DIET entities (except `province` from a shared
location). Text is only read right after the user spoke: when the form resumes after a question,
the question is not mistaken for an answer.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from quotes import form_plan
from quotes.parsing import looks_like_question
from quotes.runtime import get_product_aliases, get_service

log = logging.getLogger(__name__)

FORM_NAME = "quote_form"
_NOT_AN_ANSWER = {"action_listen", "action_extract_slots", FORM_NAME}


def is_fresh_user_turn(tracker: Tracker) -> bool:
    """True when nothing but slot/loop bookkeeping happened since the latest user message."""
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            return True
        if kind == "bot" or (kind == "action" and event.get("name") not in _NOT_AN_ANSWER):
            return False
    return False


class ValidateQuoteForm(FormValidationAction):
    def name(self) -> str:
        return "validate_quote_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> list[str]:
        service = get_service()
        return form_plan.required_slots(service.catalogue, tracker.slots, service.today())

    async def get_extraction_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> list[EventType]:
        """One parse of the latest message fills every slot it mentions (and clears stale ones)."""
        if not is_fresh_user_turn(tracker):
            return []
        text = tracker.latest_message.get("text") or ""
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent in form_plan.NEVER_EXTRACT_INTENTS:
            return []
        if intent in form_plan.QUESTION_INTENTS and looks_like_question(text):
            return []
        service = get_service()
        result = form_plan.interpret(
            text, slots=tracker.slots, catalogue=service.catalogue, aliases=get_product_aliases(),
            today=service.today(), requested_slot=tracker.get_slot("requested_slot"), intent=intent,
            entities=tracker.latest_message.get("entities") or [], context_product=tracker.get_slot("product"))
        for note in result.notes:
            dispatcher.utter_message(text=note)
        log.info("quote form extraction", extra={"event": "quote.form.extract", "intent": intent,
                                                 "requested": tracker.get_slot("requested_slot"),
                                                 "slots": sorted(result.updates), "abandon": result.abandon})
        events = [SlotSet(slot, value) for slot, value in result.updates.items()]
        if result.evidence is not None:
            events.append(SlotSet("quote_evidence", result.evidence))
        return events

    async def get_validation_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> list[EventType]:
        """Validate the required slots; also keep updates to the form's other slots (age in days,
        a cleared choice after a product switch) that rasa-sdk would otherwise drop."""
        candidates = tracker.slots_to_validate()
        events = await super().get_validation_events(dispatcher, tracker, domain)
        validated = {event["name"] for event in events}
        for slot, value in candidates.items():
            if slot not in validated and (slot in form_plan.FORM_SLOTS or slot in form_plan.HELPER_SLOTS):
                events.append(SlotSet(slot, value))
        return events

    def _validate(self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        kept, message = form_plan.validate_slot(slot, value, tracker.slots, get_service().catalogue)
        if message:
            dispatcher.utter_message(text=message)
        return {slot: kept}

    def validate_quote_product(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> dict[str, Any]:
        return self._validate("quote_product", value, dispatcher, tracker)

    def validate_insured_relation(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> dict[str, Any]:
        return self._validate("insured_relation", value, dispatcher, tracker)

    def validate_insured_age(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> dict[str, Any]:
        result = self._validate("insured_age", value, dispatcher, tracker)
        result["insured_age_days"] = tracker.get_slot("insured_age_days") if result["insured_age"] is not None else None
        return result

    def validate_occupation_class(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> dict[str, Any]:
        return self._validate("occupation_class", value, dispatcher, tracker)

    def validate_phone_price_cny(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: DomainDict) -> dict[str, Any]:
        return self._validate("phone_price_cny", value, dispatcher, tracker)

    def validate_phone_activation_days(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: DomainDict) -> dict[str, Any]:
        return self._validate("phone_activation_days", value, dispatcher, tracker)

    def validate_province(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: DomainDict) -> dict[str, Any]:
        return self._validate("province", value, dispatcher, tracker)

    def validate_driver_certified(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> dict[str, Any]:
        return self._validate("driver_certified", value, dispatcher, tracker)

    def validate_coverage_cny(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> dict[str, Any]:
        return self._validate("coverage_cny", value, dispatcher, tracker)

    def validate_cover_to(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: DomainDict) -> dict[str, Any]:
        return self._validate("cover_to", value, dispatcher, tracker)

    def validate_payment_years(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> dict[str, Any]:
        return self._validate("payment_years", value, dispatcher, tracker)

    def validate_term_months(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> dict[str, Any]:
        return self._validate("term_months", value, dispatcher, tracker)

    def validate_payment_mode(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> dict[str, Any]:
        return self._validate("payment_mode", value, dispatcher, tracker)


class AskQuoteSlot(Action, ABC):
    """Asks for one slot; product-aware (options come from products.yml), hence an action rather than
    an `utter_ask_<slot>` response (which `rasa data validate --fail-on-warnings` flags as unused)."""

    @property
    @abstractmethod
    def slot(self) -> str:
        ...

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        catalogue = get_service().catalogue
        product_id = tracker.get_slot("quote_product")
        product = catalogue.get(product_id) if product_id in catalogue else None
        dispatcher.utter_message(text=form_plan.question(self.slot, product))
        return []


class ActionAskQuoteProduct(AskQuoteSlot):
    slot = "quote_product"


class ActionAskInsuredRelation(AskQuoteSlot):
    slot = "insured_relation"


class ActionAskInsuredAge(AskQuoteSlot):
    slot = "insured_age"


class ActionAskOccupationClass(AskQuoteSlot):
    slot = "occupation_class"


class ActionAskPhonePriceCny(AskQuoteSlot):
    slot = "phone_price_cny"


class ActionAskPhoneActivationDays(AskQuoteSlot):
    slot = "phone_activation_days"


class ActionAskProvince(AskQuoteSlot):
    slot = "province"


class ActionAskDriverCertified(AskQuoteSlot):
    slot = "driver_certified"


class ActionAskCoverageCny(AskQuoteSlot):
    slot = "coverage_cny"


class ActionAskCoverTo(AskQuoteSlot):
    slot = "cover_to"


class ActionAskPaymentYears(AskQuoteSlot):
    slot = "payment_years"


class ActionAskTermMonths(AskQuoteSlot):
    slot = "term_months"


class ActionAskPaymentMode(AskQuoteSlot):
    slot = "payment_mode"
