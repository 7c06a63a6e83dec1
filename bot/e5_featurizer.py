"""Rasa NLU component: multilingual-e5-small sentence vectors as dense features for DIET.

Why: with ~80 examples an intent, character n-grams alone cannot tell 我妈能买吗 (a knowledge
question) from 给我妈算算多少钱 (a quote); a multilingual sentence encoder can. The vectors come
from the ONNX export `make install` builds (knowledge/onnx_encoder.py: numpy + onnxruntime,
no torch), so the Rasa process stays small and each message costs a few milliseconds.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Tuple

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
# vectors encoded ahead of the NLU pipeline (prefetch_query_vector), each used once by `process`; a list per
# text, as several users may send the same text at once and each turn encodes its own
_PREFETCHED: "OrderedDict[Tuple[str, str], List[np.ndarray]]" = OrderedDict()
_PREFETCH_LIMIT = 256        # texts whose turn never reached the pipeline (a refused lock) age out
_prefetch_lock = threading.Lock()


def _encoder_key(model_dir: Path) -> str:
    return str(model_dir.resolve())


def _encoder(model_dir: Path) -> Any:
    """One encoder per process and model folder (loading costs ~1 s and ~150 MB)."""
    key = _encoder_key(model_dir)
    if key not in _ENCODERS:
        from knowledge.onnx_encoder import OnnxEncoder

        _ENCODERS[key] = OnnxEncoder(model_dir, variant="int8", threads=1)
    return _ENCODERS[key]


def prefetch_query_vector(text: str) -> None:
    """Encode `text` now, for the next `process` of that same text (any thread).

    Why: the encoder is native code that releases the GIL, and Rasa runs the NLU pipeline on its event
    loop. Encoding the incoming message on a worker thread before the pipeline runs (connectors/
    rasa_speedups.py) lets the loop serve other users meanwhile; `process` then finds the vector.
    Only encoders already loaded are used: the first message loads the model inline as before.
    """
    for key, encoder in list(_ENCODERS.items()):
        vector = encoder.encode([text], "query")[0]
        with _prefetch_lock:
            _PREFETCHED.setdefault((key, text), []).append(vector)
            while len(_PREFETCHED) > _PREFETCH_LIMIT:
                _PREFETCHED.popitem(last=False)


def _take_prefetched(encoder_key: str, text: str) -> Optional[np.ndarray]:
    key = (encoder_key, text)
    with _prefetch_lock:
        vectors = _PREFETCHED.get(key)
        if not vectors:
            return None
        vector = vectors.pop()
        if not vectors:
            del _PREFETCHED[key]
        return vector


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
        self._encoder_key = _encoder_key(self._model_dir)     # once, not per message
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
        with_text = [m for m in messages if m.get(TEXT)]
        if not with_text:
            return messages
        vectors: List[Optional[np.ndarray]] = [_take_prefetched(self._encoder_key, m.get(TEXT)) for m in with_text]
        missing = [i for i, vector in enumerate(vectors) if vector is None]
        if missing:
            encoded = _encoder(self._model_dir).encode([with_text[i].get(TEXT) for i in missing], "query")
            for i, vector in zip(missing, encoded):
                vectors[i] = vector
        for message, vector in zip(with_text, vectors):
            self.add_features_to_message(sequence=None, sentence=self._scale * np.asarray(vector)[np.newaxis, :],
                                         attribute=TEXT, message=message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data
