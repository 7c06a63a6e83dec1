"""Sentence embeddings, offline, with a content-hash cache.

`SentenceTransformerEncoder` loads multilingual-e5-small from the folder `make install` builds
(never from a hub); `load_encoder` picks it or the ONNX export (knowledge/onnx_encoder.py). `EmbeddingCache` keys vectors by sha256(model, prompt, text), so rebuilding
the index after one edited document only embeds what changed.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Callable, Optional, Protocol, Sequence

import numpy as np

from knowledge.batching import encode_in_length_order


E5_FAMILY = "multilingual-e5-small"


class Encoder(Protocol):
    name: str
    dim: int
    family: str  # the model the vectors come from, whatever runs it (torch, ONNX): what a re-ranker is trained on

    def encode(self, texts: Sequence[str], prompt: str, *, batch_size: int = 64,
               progress: Optional[Callable[[int], None]] = None) -> np.ndarray: ...


class SentenceTransformerEncoder:
    """multilingual-e5-small through sentence-transformers; `prompt` is 'query' or 'passage'."""

    def __init__(self, model_dir: Path, *, threads: Optional[int] = None) -> None:
        if not (Path(model_dir) / "modules.json").exists():
            raise FileNotFoundError(f"embedding model not built at {model_dir}: run `make install`")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self.name = f"e5-small:{Path(model_dir).name}"
        self.family = E5_FAMILY
        self.dim = int(self._model.get_embedding_dimension())
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], prompt: str, *, batch_size: int = 64,
               progress: Optional[Callable[[int], None]] = None) -> np.ndarray:
        def encode_batch(batch: list[str]) -> np.ndarray:
            with self._lock:
                return self._model.encode(batch, prompt_name=prompt, normalize_embeddings=True,
                                          batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)

        return encode_in_length_order(texts, self.dim, batch_size, encode_batch, progress)


def load_encoder(backend: str, torch_model_dir: Path, onnx_model_dir: Path, *,
                 threads: Optional[int] = None) -> Encoder:
    """The search encoder: 'onnx' (shipped: fp32 graph, ~13 ms/query, no torch) or 'torch' (sentence-transformers).

    Also pins the process's OpenMP/BLAS pools to one thread (knowledge/threads.py): a process that
    loads a search encoder is a search process, and those pools otherwise spin against the encoder."""
    from knowledge.threads import limit_native_threads

    limit_native_threads()
    if backend == "onnx":
        from knowledge.onnx_encoder import OnnxEncoder

        return OnnxEncoder(onnx_model_dir, threads=threads)
    if backend == "torch":
        return SentenceTransformerEncoder(torch_model_dir, threads=threads)
    raise ValueError(f"EMBEDDING_BACKEND must be 'onnx' or 'torch', not {backend!r}")


class HashingEncoder:
    """Deterministic character n-gram hashing encoder: for unit tests that must not load a model."""

    def __init__(self, dim: int = 256) -> None:
        self.name, self.dim = f"hashing-{dim}", dim
        self.family = self.name

    def encode(self, texts: Sequence[str], prompt: str, *, batch_size: int = 64,
               progress: Optional[Callable[[int], None]] = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for n in (1, 2):
                for i in range(len(text) - n + 1):
                    h = int.from_bytes(hashlib.blake2b(text[i:i + n].encode(), digest_size=4).digest(), "little")
                    out[row, h % self.dim] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        if progress:
            progress(len(texts))
        return out


class EmbeddingCache:
    """SQLite-backed vector cache keyed by content hash; safe to share between threads."""

    def __init__(self, path: Optional[Path]) -> None:
        self._mem: dict[str, bytes] = {}
        self._db: Optional[sqlite3.Connection] = None
        self._lock = threading.Lock()
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB)")
            self._db.execute("CREATE TABLE IF NOT EXISTS artefact (key TEXT PRIMARY KEY, data BLOB)")

    @staticmethod
    def key(model: str, prompt: str, text: str) -> str:
        return hashlib.sha256(f"{model}\x1f{prompt}\x1f{text}".encode("utf-8")).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            missing = [k for k in keys if k not in self._mem]
            if self._db is not None and missing:
                for start in range(0, len(missing), 500):
                    chunk = missing[start:start + 500]
                    rows = self._db.execute(
                        f"SELECT key, vec FROM emb WHERE key IN ({','.join('?' * len(chunk))})", chunk)
                    for k, blob in rows:
                        self._mem[k] = blob
            for k in keys:
                if k in self._mem:
                    found[k] = np.frombuffer(self._mem[k], dtype=np.float32)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._lock:
            blobs = {k: np.asarray(v, dtype=np.float32).tobytes() for k, v in items.items()}
            self._mem.update(blobs)
            if self._db is not None and blobs:
                self._db.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?)", list(blobs.items()))
                self._db.commit()


    def get_artefact(self, key: str) -> Optional[bytes]:
        """A derived artefact (the trained re-ranker) stored beside the vectors; None if absent."""
        with self._lock:
            if self._db is None:
                return self._mem.get("artefact:" + key)
            row = self._db.execute("SELECT data FROM artefact WHERE key = ?", (key,)).fetchone()
            return row[0] if row else None

    def put_artefact(self, key: str, data: bytes) -> None:
        with self._lock:
            if self._db is None:
                self._mem["artefact:" + key] = data
                return
            self._db.execute("INSERT OR REPLACE INTO artefact VALUES (?, ?)", (key, data))
            self._db.commit()


def encode_cached(encoder: Encoder, cache: EmbeddingCache, texts: Sequence[str], prompt: str, *,
                  progress: Optional[Callable[[int], None]] = None) -> tuple[np.ndarray, int]:
    """Encode `texts`, reusing cached vectors. Returns (vectors, how many were newly embedded)."""
    keys = [EmbeddingCache.key(encoder.name, prompt, t) for t in texts]
    cached = cache.get_many(keys)
    todo = [i for i, k in enumerate(keys) if k not in cached]
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for i, k in enumerate(keys):
        if k in cached:
            out[i] = cached[k]
    if progress and len(texts) - len(todo):
        progress(len(texts) - len(todo))
    if todo:
        fresh = encoder.encode([texts[i] for i in todo], prompt, progress=progress)
        out[todo] = fresh
        cache.put_many({keys[i]: fresh[j] for j, i in enumerate(todo)})
    return out, len(todo)
