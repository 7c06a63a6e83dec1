"""The shipped re-ranker and its thresholds: one artefact, refused when it is not what its JSON describes."""
from __future__ import annotations

import json
import shutil

import pytest

from common.settings import REPO_ROOT
from knowledge.rerank import ARTEFACT_DIR, INFO_FILE, MODEL_FILE, ArtefactMismatch, check_fits, load_artefact
from knowledge.search import FEATURES


def test_the_shipped_artefact_fits_this_code_and_the_locked_scikit_learn():
    shipped = load_artefact()
    assert shipped is not None
    check_fits(shipped, FEATURES)
    locked = [line for line in (REPO_ROOT / "requirements" / "app.lock").read_text().splitlines()
              if line.startswith("scikit-learn==")]
    assert locked == [f"scikit-learn=={shipped.info['sklearn']}"]
    assert shipped.info["encoder_family"] == "multilingual-e5-small"
    assert 0 < shipped.thresholds.option <= shipped.thresholds.clarify < 1 and 0 < shipped.thresholds.answer < 1


def test_a_model_that_is_not_its_json_own_is_refused(tmp_path):
    shutil.copy(ARTEFACT_DIR / INFO_FILE, tmp_path / INFO_FILE)
    shutil.copy(ARTEFACT_DIR / MODEL_FILE, tmp_path / MODEL_FILE)
    with open(tmp_path / MODEL_FILE, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ArtefactMismatch, match="make reranker"):
        load_artefact(tmp_path)


def test_a_model_trained_on_other_features_is_refused(tmp_path):
    shipped = load_artefact()
    info = json.loads((ARTEFACT_DIR / INFO_FILE).read_text(encoding="utf-8"))
    shipped.info = {**info, "features": info["features"][:-1]}
    with pytest.raises(ArtefactMismatch, match="other features"):
        check_fits(shipped, FEATURES)


def test_no_artefact_means_none(tmp_path):
    assert load_artefact(tmp_path) is None
