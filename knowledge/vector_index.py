"""A faiss inner-product index whose ids stay stable across edits (IndexIDMap2 + hashed keys)."""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np


def stable_id(key: str) -> int:
    """63-bit id from a string key: the same entry keeps its id in every build."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little") >> 1


class VectorIndex:
    """Cosine search over normalised vectors, addressed by string keys."""

    def __init__(self, dim: int) -> None:
        import faiss

        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._keys: dict[int, str] = {}

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        ids = np.array([stable_id(k) for k in keys], dtype=np.int64)
        if len(set(ids.tolist())) != len(ids) or any(i in self._keys for i in ids.tolist()):
            raise ValueError("duplicate index key")
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        self._keys.update(zip(ids.tolist(), keys))

    def remove(self, keys: Sequence[str]) -> int:
        ids = np.array([stable_id(k) for k in keys], dtype=np.int64)
        removed = int(self._index.remove_ids(ids))
        for i in ids.tolist():
            self._keys.pop(i, None)
        return removed

    def search(self, query: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Top-k (key, cosine) for one query vector, best first."""
        k = min(k, len(self))
        if k <= 0:
            return []
        scores, ids = self._index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
        return [(self._keys[int(i)], float(s)) for s, i in zip(scores[0], ids[0]) if i != -1]

    def vector(self, key: str) -> np.ndarray:
        return self._index.reconstruct(stable_id(key))
