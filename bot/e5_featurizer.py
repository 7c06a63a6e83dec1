"""Rasa NLU component: multilingual-e5-small sentence vectors as dense features for DIET.

Why: with ~80 examples an intent, character n-grams alone cannot tell 我妈能买吗 (a knowledge
question) from 给我妈算算多少钱 (a quote); a multilingual sentence encoder can. The vectors come
from the ONNX export `make install` builds (knowledge/onnx_encoder.py: numpy + onnxruntime,
no torch), so the Rasa process stays small and each message costs a few milliseconds.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

_ENCODERS: Dict[str, Any] = {}


def _encoder(model_dir: Path) -> Any:
    """One encoder per process and model folder (loading costs ~1 s and ~150 MB)."""
    key = str(model_dir.resolve())
    if key not in _ENCODERS:
        from knowledge.onnx_encoder import OnnxEncoder

        _ENCODERS[key] = OnnxEncoder(model_dir, variant="int8", threads=1)
    return _ENCODERS[key]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class E5SentenceFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds one 384-d e5 'query:' vector per message text as a sentence-level dense feature."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # unit vectors have entries of ~0.05; `scale` lifts them to the range of DIET's other inputs, so the
        # classifier does not need large (L2-penalised) weights to use them
        return {**DenseFeaturizer.get_default_config(), "model_dir": None, "scale": 1.0}

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        self._model_dir = self._resolve_model_dir(config.get("model_dir"))
        self._scale = float(config.get("scale", 1.0))

    @staticmethod
    def _resolve_model_dir(configured: Optional[str]) -> Path:
        if configured:
            return Path(configured)
        from common.settings import load_settings

        return load_settings().embedding_onnx_dir

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> GraphComponent:
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Nothing to validate: the model folder is checked when first used."""

    @staticmethod
    def required_packages() -> List[Text]:
        return ["onnxruntime", "tokenizers"]

    def process(self, messages: List[Message]) -> List[Message]:
        todo = [m for m in messages if m.get(TEXT)]
        if not todo:
            return messages
        vectors = _encoder(self._model_dir).encode([m.get(TEXT) for m in todo], "query")
        for message, vector in zip(todo, vectors):
            self.add_features_to_message(sequence=None, sentence=self._scale * np.asarray(vector)[np.newaxis, :],
                                         attribute=TEXT, message=message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data
