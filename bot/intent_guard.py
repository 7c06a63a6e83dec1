"""Rasa NLU component: applies bot/intent_rules.py to the classifier's intent, last in the pipeline.

A quote request without a price, a purchase or quote facts becomes a question (or out_of_scope when
it names nothing of insurance); asking when agents work is a question, not a hand-off; asking how to
delete one's data or how to complain is a question. The original intent stays visible in the parse data as `intent_guard`.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.intent_rules import corrected_intent

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class IntentGuard(GraphComponent):
    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "IntentGuard":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            intent = message.get(INTENT) or {}
            name = intent.get(INTENT_NAME_KEY)
            better = corrected_intent(name, message.get(TEXT) or "")
            if better is None:
                continue
            confidence = float(intent.get("confidence") or 0.0)
            message.set(INTENT, {INTENT_NAME_KEY: better, "confidence": confidence}, add_to_output=True)
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != better]
            message.set(INTENT_RANKING_KEY, [{INTENT_NAME_KEY: better, "confidence": confidence}] + ranking,
                        add_to_output=True)
            message.set("intent_guard", {"from": name, "to": better}, add_to_output=True)
            logger.debug("intent corrected", extra={"event": "nlu.intent_guard", "from": name, "to": better})
        return messages
