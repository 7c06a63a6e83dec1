"""Search against the DRAFT before publishing (the console's test box).

Builds an index for the draft head with the live service's already loaded encoder and the shared
on-disk embedding cache (only edited texts are embedded), once per draft content; while the draft
equals what is live, the live index answers. Never touches the live index.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Optional

from knowledge.encoder import EmbeddingCache
from knowledge.search import KnowledgeIndex
from knowledge.service import KnowledgeService
from knowledge.vocabulary import Vocabulary
from ops.store import KbStore


class DraftIndex:
    def __init__(self, service: KnowledgeService, store: KbStore, vocab_loader: Callable[[], Vocabulary],
                 cache_path: Optional[Path]) -> None:
        self.service, self.store, self._vocab_loader = service, store, vocab_loader
        self._cache = EmbeddingCache(cache_path)
        self._lock = threading.Lock()
        self._index: Optional[KnowledgeIndex] = None
        self.version_id: Optional[int] = None

    def index(self, version_id: Optional[int] = None) -> tuple[int, KnowledgeIndex]:
        """(version id, index) for `version_id` (default: the draft head); builds when needed."""
        vid = version_id if version_id is not None else self.store.draft_version_id()
        with self._lock:
            if self._index is not None and self.version_id == vid:
                return vid, self._index
            snapshot = self.store.snapshot(vid)
            live = self.service.index if self.service.ready else None
            if live is not None and live.version == snapshot.version:
                index = live
            elif self._index is not None and self._index.version == snapshot.version:
                index = self._index
            else:
                # the live re-ranker, as the first swap after publishing uses (ops.sync): same answers, seconds to build
                quick = live is not None and live.reranker is not None
                index = KnowledgeIndex.build(snapshot, self.service.encoder(), self._vocab_loader(), cache=self._cache,
                                             train_reranker=not quick)
                if quick:
                    index.reranker = live.reranker
            self._index, self.version_id = index, vid
            return vid, index
