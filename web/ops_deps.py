"""Per-app objects of the ops console, created on first use (never at import): the draft index, the
reload notifier and a read-only engine on Rasa's tracker store for analytics."""
from __future__ import annotations

import threading
from typing import Optional

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from ops.draft import DraftIndex
from ops.sync import KnowledgeSync
from web.state import AppState

_lock = threading.Lock()
_tracker_engines: dict[str, Engine] = {}


def draft_index(state: AppState) -> DraftIndex:
    with _lock:
        draft: Optional[DraftIndex] = getattr(state, "ops_draft", None)
        if draft is None:
            from knowledge.vocabulary import load_vocabulary

            settings = state.settings
            draft = DraftIndex(state.knowledge, state.kb, lambda: load_vocabulary(settings.knowledge_dir),
                               settings.embedding_cache)
            state.ops_draft = draft  # type: ignore[attr-defined]
        return draft


def notify_published(state: AppState, version_id: int) -> None:
    """Wake this process's reload thread and signal the other replicas (Redis); polling covers the rest."""
    sync = state.kb_sync
    if sync is None:  # an app whose lifespan did not start the sync (tests): only tell the others
        sync = KnowledgeSync(state.knowledge, lambda: state.kb, state.settings.redis_url)
    sync.notify(version_id)


def reload_status(state: AppState) -> dict:
    sync = state.kb_sync
    base = {"index_version": state.knowledge.version, "index_ready": state.knowledge.ready,
            "index_error": state.knowledge.last_error}
    return {**base, **sync.status()} if sync is not None else {**base, "mode": "not running"}


def tracker_engine(state: AppState) -> Engine:
    """Rasa's tracker store, read-only for SQLite (never changes its journal mode or creates the file)."""
    url = state.settings.tracker_store_url
    with _lock:
        engine = _tracker_engines.get(url)
        if engine is None:
            if url.startswith("sqlite:///"):
                path = url[len("sqlite:///"):]
                engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true",
                                       connect_args={"check_same_thread": False, "timeout": 5})
            else:
                if url.startswith("postgresql://"):  # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3
                    url = "postgresql+psycopg2://" + url[len("postgresql://"):]
                engine = create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)
            _tracker_engines[url] = engine
        return engine
