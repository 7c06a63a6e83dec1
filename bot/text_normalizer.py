"""Rasa NLU component, first in the pipeline: every message as the whole assistant reads it.

common.textnorm.normalize_user_text (繁→简, full-width → half-width, Chinese quantities in digits) runs
on training examples and on every incoming message before the tokenizer, so the NLU, the knowledge
search and the quote parser (both read `latest_message["text"]`) see one form of the same words. The
tracker's UserUttered event keeps the text as typed, which is what transcripts store.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from common.textnorm import normalize_user_text


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class TextNormalizer(GraphComponent):
    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "TextNormalizer":
        return cls()

    @staticmethod
    def _normalize(message: Message) -> None:
        text = message.get(TEXT)
        if isinstance(text, str) and text:
            normalized = normalize_user_text(text)
            if normalized != text:
                message.set(TEXT, normalized)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._normalize(example)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalize(message)
        return messages
