"""Per-process state of the web service: settings, database engine, the live knowledge index."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

from sqlalchemy.engine import Engine

from common.settings import Settings
from knowledge.corpus import KnowledgeSnapshot, load_seed
from knowledge.encoder import load_encoder
from knowledge.service import KnowledgeService
from knowledge.vocabulary import load_vocabulary
from storage.db import create_all, get_engine

if TYPE_CHECKING:
    from ops.store import KbStore
    from ops.sync import KnowledgeSync

log = logging.getLogger(__name__)
_ENGINE_LOCK = threading.RLock()


@dataclass
class AppState:
    settings: Settings
    knowledge: KnowledgeService
    snapshot_source: Callable[[], KnowledgeSnapshot]
    _engine: Optional[Engine] = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _kb: Optional["KbStore"] = None
    kb_sync: Optional["KnowledgeSync"] = None  # follows the published knowledge version (ops.sync)

    @classmethod
    def create(cls, settings: Settings) -> "AppState":
        knowledge = KnowledgeService(
            encoder_factory=lambda: load_encoder(settings.embedding_backend, settings.embedding_model_dir,
                                                 settings.embedding_onnx_dir),
            vocab_loader=lambda: load_vocabulary(settings.knowledge_dir),
            cache_path=settings.embedding_cache,
        )
        state = cls(settings, knowledge, lambda: load_seed(settings.knowledge_dir))
        # the published version in the database (seeded from knowledge/content on first start)
        state.snapshot_source = lambda: state.kb.published_snapshot()
        return state

    @property
    def engine(self) -> Engine:
        with _ENGINE_LOCK:  # background threads (knowledge sync, hand-off relay) ask for it at start-up too
            if self._engine is None:
                import ops.tables  # noqa: F401  (knowledge versions, audit, unanswered questions)
                import web.auth  # noqa: F401  (declares the users/sessions tables before create_all)

                engine = get_engine(self.settings.app_database_url)
                create_all(engine)
                self._engine = engine
        return self._engine

    @property
    def kb(self) -> "KbStore":
        """The versioned knowledge base in the app database (ops console)."""
        if self._kb is None:
            from ops.store import KbStore

            self._kb = KbStore(self.engine, self.settings.knowledge_dir)
        return self._kb

    def start(self) -> None:
        """Build the first index in the background (the service answers /livez at once), then follow
        every published version: Redis pub/sub with REDIS_URL, else a 2 s poll of the database."""
        from ops.sync import KnowledgeSync

        self.kb_sync = KnowledgeSync(self.knowledge, lambda: self.kb, self.settings.redis_url).start()

    def wait_ready(self, timeout: float = 120.0) -> bool:
        if self.kb_sync is not None:
            self.kb_sync.wait_first_build(timeout)
        for thread in self._threads:
            thread.join(timeout)
        return self.knowledge.ready

    def stop(self) -> None:
        if self.kb_sync is not None:
            self.kb_sync.stop()
        if self._engine is not None:
            self._engine.dispose()
