"""Shared fixtures: the real embedding model and knowledge index, built once per test session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from common.settings import REPO_ROOT  # noqa: E402

CONTENT_DIR = REPO_ROOT / "knowledge" / "content"
MODEL_DIR = REPO_ROOT / "var" / "models" / "e5-small"
ONNX_DIR = REPO_ROOT / "var" / "models" / "e5-small-onnx"
# content-hash keyed, so every test stack can share it: their web services start from a warm cache
EMBEDDING_CACHE = REPO_ROOT / "var" / "cache" / "embeddings.sqlite"
SHARED_CATALOGUE = REPO_ROOT.parent / "shared" / "catalogue"


@pytest.fixture(scope="session")
def vocab():
    from knowledge.vocabulary import load_vocabulary

    return load_vocabulary(CONTENT_DIR)


@pytest.fixture(scope="session")
def snapshot():
    from knowledge.corpus import load_seed

    return load_seed(CONTENT_DIR)


@pytest.fixture(scope="session")
def encoder():
    from common.settings import load_settings
    from knowledge.encoder import load_encoder

    settings = load_settings()  # the shipped backend (EMBEDDING_BACKEND, onnx by default)
    return load_encoder(settings.embedding_backend, settings.embedding_model_dir, settings.embedding_onnx_dir)


@pytest.fixture(scope="session")
def knowledge_index(snapshot, encoder, vocab):
    from knowledge.encoder import EmbeddingCache
    from knowledge.search import KnowledgeIndex

    cache = EmbeddingCache(REPO_ROOT / "var" / "cache" / "embeddings.sqlite")
    return KnowledgeIndex.build(snapshot, encoder, vocab, cache=cache)


@pytest.fixture(scope="session")
def web_app_url(tmp_path_factory, knowledge_index):
    """The real web app (real knowledge index) served on a free loopback port."""
    from common.settings import load_settings
    from tests.helpers import free_port, serve_app
    from web.main import create_app
    from web.state import AppState

    var = tmp_path_factory.mktemp("web-var")
    settings = load_settings({"INSUREBOT_VAR_DIR": str(var)})
    state = AppState.create(settings)
    state.knowledge._index = knowledge_index
    state.start = lambda: None
    with serve_app(create_app(settings, state=state), free_port()) as url:
        yield url
