"""The candidate re-ranker and the decision thresholds chosen with it, shipped as one artefact.

`knowledge/model/reranker.pkl` (the gradient-boosted classifier) and `reranker.json` (its thresholds,
features, cross-validated figures and the pickle's sha256) are produced together by
`make reranker` (knowledge/training.py) and committed. Every machine loads the same model and the same
thresholds: a model trained on each machine's own float rounding of the embeddings, judged by a
threshold calibrated on another machine's model, is what made decisions differ between CPUs.

Its features are item-agnostic (similarities, ranks, product and section signals), so the shipped
model also ranks content an editor publishes later; nothing is retrained at run time.
An encoder the artefact was not trained for (the hashing encoder of unit tests) gets a model trained
on the spot from the knowledge base, with default thresholds.
"""
from __future__ import annotations

import hashlib
import json
import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from knowledge.decision import Thresholds

if TYPE_CHECKING:
    from knowledge.search import KnowledgeIndex

log = logging.getLogger(__name__)

ARTEFACT_DIR = Path(__file__).with_name("model")
MODEL_FILE = "reranker.pkl"
INFO_FILE = "reranker.json"


class ArtefactMismatch(RuntimeError):
    """The shipped re-ranker does not fit this code (features or library changed): retrain it."""


@dataclass
class Reranker:
    model: Any
    thresholds: Thresholds
    info: dict = field(default_factory=dict)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """P(candidate answers the query), one per row of X (FEATURES order)."""
        return self.model.predict_proba(X)[:, 1]


def save_artefact(reranker: Reranker, directory: Path = ARTEFACT_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    blob = pickle.dumps(reranker.model, protocol=5)
    (directory / MODEL_FILE).write_bytes(blob)
    info = {**reranker.info, "thresholds": reranker.thresholds.to_dict(),
            "model_sha256": hashlib.sha256(blob).hexdigest()}
    (directory / INFO_FILE).write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def load_artefact(directory: Path = ARTEFACT_DIR) -> Optional[Reranker]:
    """The shipped re-ranker, or None when there is none; refuses a model that is not its info's own."""
    info_path, model_path = directory / INFO_FILE, directory / MODEL_FILE
    if not (info_path.exists() and model_path.exists()):
        return None
    info = json.loads(info_path.read_text(encoding="utf-8"))
    blob = model_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != info.get("model_sha256"):
        raise ArtefactMismatch(f"{model_path} is not the model {info_path} was calibrated for: run `make reranker`")
    model = pickle.loads(blob)  # a file of this repository, written by save_artefact: trusted
    return Reranker(model, Thresholds(**info["thresholds"]), info)


def check_fits(reranker: Reranker, features: tuple[str, ...]) -> None:
    import sklearn

    if tuple(reranker.info.get("features", ())) != tuple(features):
        raise ArtefactMismatch("the shipped re-ranker was trained on other features: run `make reranker`")
    if reranker.info.get("sklearn") != sklearn.__version__:
        raise ArtefactMismatch(f"the shipped re-ranker was saved by scikit-learn {reranker.info.get('sklearn')}, "
                               f"this is {sklearn.__version__}: run `make reranker`")


_shipped: dict[str, Optional[Reranker]] = {}


def shipped_reranker() -> Optional[Reranker]:
    """The committed artefact, loaded once per process."""
    if "model" not in _shipped:
        _shipped["model"] = load_artefact()
    return _shipped["model"]


def reranker_for(index: "KnowledgeIndex") -> Reranker:
    """The shipped re-ranker when it was trained for this encoder; otherwise one trained here and now."""
    from knowledge.search import FEATURES

    shipped = shipped_reranker()
    family = getattr(index.encoder, "family", index.encoder.name)
    if shipped is not None and shipped.info.get("encoder_family") == family:
        check_fits(shipped, FEATURES)
        return shipped
    from knowledge.training import fit_knowledge_base_only

    log.info("no shipped re-ranker for this encoder: training one from the knowledge base",
             extra={"event": "knowledge.reranker_local", "encoder": index.encoder.name})
    return fit_knowledge_base_only(index)
