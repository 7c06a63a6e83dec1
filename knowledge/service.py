"""The live knowledge index of one process: built off the request path, swapped atomically.

`KnowledgeService.search()` always uses one complete index; `rebuild()` builds a new one in the
caller's thread (run it in a background thread) and swaps the reference only on success, so a
failed build keeps the old index serving and no request ever sees a half-built one.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from knowledge.corpus import KnowledgeSnapshot
from knowledge.encoder import EmbeddingCache, Encoder
from knowledge.search import KnowledgeIndex, SearchResult
from knowledge.vocabulary import Vocabulary

log = logging.getLogger(__name__)


class IndexNotReady(RuntimeError):
    """No index has been built yet (start-up still running, or every build failed)."""


class KnowledgeService:
    def __init__(self, encoder_factory: Callable[[], Encoder], vocab_loader: Callable[[], Vocabulary],
                 cache_path: Optional[Path]) -> None:
        self._encoder_factory = encoder_factory
        self._vocab_loader = vocab_loader
        self._cache_path = cache_path
        self._encoder: Optional[Encoder] = None
        self._cache: Optional[EmbeddingCache] = None
        self._index: Optional[KnowledgeIndex] = None
        self._build_lock = threading.Lock()
        self.last_error: Optional[str] = None
        self.last_build_at: Optional[float] = None

    @property
    def index(self) -> KnowledgeIndex:
        index = self._index
        if index is None:
            raise IndexNotReady(self.last_error or "knowledge index is still being built")
        return index

    @property
    def ready(self) -> bool:
        return self._index is not None

    @property
    def version(self) -> Optional[str]:
        return self._index.version if self._index else None

    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = self._encoder_factory()
            self._cache = EmbeddingCache(self._cache_path)
        return self._encoder

    def rebuild(self, snapshot: KnowledgeSnapshot, *, reuse_reranker: bool = False) -> KnowledgeIndex:
        """Build an index for `snapshot` and make it live; on failure keep the old one and re-raise.

        reuse_reranker: keep the live index's re-ranker and its thresholds (its features are item-agnostic)
        instead of loading one again: the shipped model, or for an encoder it was not trained for the one
        trained at the first build."""
        with self._build_lock:
            started = time.perf_counter()
            try:
                encoder = self.encoder()
                live = self._index
                quick = reuse_reranker and live is not None and live.reranker is not None
                new = KnowledgeIndex.build(snapshot, encoder, self._vocab_loader(), cache=self._cache,
                                           train_reranker=not quick)
                if quick:
                    new.reranker = live.reranker
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("knowledge build failed; old index keeps serving",
                              extra={"event": "knowledge.build_failed", "version": snapshot.version})
                raise
            self._index = new  # one reference assignment: atomic for readers
            self.last_error = None
            self.last_build_at = time.time()
            log.info("knowledge index live", extra={"event": "knowledge.swapped", "version": new.version,
                                                    "seconds": round(time.perf_counter() - started, 2)})
            return new

    def search(self, query: str, top_k: int = 5, context_product: Optional[str] = None) -> SearchResult:
        return self.index.search(query, top_k=top_k, context_product=context_product)
