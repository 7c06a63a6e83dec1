"""Per-process state of the web service: settings, database engine, the live knowledge index."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable, Optional

from sqlalchemy.engine import Engine

from common.settings import Settings
from knowledge.corpus import KnowledgeSnapshot, load_seed
from knowledge.encoder import SentenceTransformerEncoder
from knowledge.service import KnowledgeService
from knowledge.vocabulary import load_vocabulary
from storage.db import create_all, get_engine

log = logging.getLogger(__name__)


@dataclass
class AppState:
    settings: Settings
    knowledge: KnowledgeService
    snapshot_source: Callable[[], KnowledgeSnapshot]
    _engine: Optional[Engine] = None
    _threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def create(cls, settings: Settings) -> "AppState":
        knowledge = KnowledgeService(
            encoder_factory=lambda: SentenceTransformerEncoder(settings.embedding_model_dir),
            vocab_loader=lambda: load_vocabulary(settings.knowledge_dir),
            cache_path=settings.embedding_cache,
        )
        return cls(settings, knowledge, lambda: load_seed(settings.knowledge_dir))

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            import web.auth  # noqa: F401  (declares the users/sessions tables before create_all)

            self._engine = get_engine(self.settings.app_database_url)
            create_all(self._engine)
        return self._engine

    def start(self) -> None:
        """Build the first index in the background: the service answers /livez at once."""
        def build() -> None:
            try:
                self.knowledge.rebuild(self.snapshot_source())
            except Exception:
                pass  # logged by the service; /healthz reports the knowledge index as down

        thread = threading.Thread(target=build, name="knowledge-initial-build", daemon=True)
        thread.start()
        self._threads.append(thread)

    def wait_ready(self, timeout: float = 120.0) -> bool:
        for thread in self._threads:
            thread.join(timeout)
        return self.knowledge.ready

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
