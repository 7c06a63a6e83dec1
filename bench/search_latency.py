"""Warm single-query search latency of the shipped index, alone on the machine -> bench/results/search_latency.*

Why a separate script: bench/retrieval.py measures latency in the middle of a long run (index builds, baselines),
often while other work shares the 2 cores. This one builds the index from the persistent embedding cache,
waits for the machine to settle, then times every dev-set query (embedding included, no query cache),
and records the load average so a reader can tell a quiet measurement from a busy one.

usage: .venv-app/bin/python bench/search_latency.py [--backend onnx|torch] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_utils import md_table, write_results  # noqa: E402
from bench.retrieval import load_dev, latency  # noqa: E402
from common.settings import load_settings  # noqa: E402
from knowledge.corpus import load_seed  # noqa: E402
from knowledge.encoder import EmbeddingCache, load_encoder  # noqa: E402
from knowledge.search import KnowledgeIndex  # noqa: E402
from knowledge.vocabulary import load_vocabulary  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["onnx", "torch"], help="encoder (default: EMBEDDING_BACKEND)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings()
    rows, data = [], {}
    backends = [args.backend] if args.backend else [settings.embedding_backend, "torch", "onnx"]
    for backend in dict.fromkeys(backends):
        encoder = load_encoder(backend, settings.embedding_model_dir, settings.embedding_onnx_dir)
        index = KnowledgeIndex.build(load_seed(settings.knowledge_dir), encoder,
                                     load_vocabulary(settings.knowledge_dir),
                                     cache=EmbeddingCache(settings.embedding_cache))
        dev = load_dev()
        latency(index, dev[:50], repeats=1)  # warm-up: first calls allocate
        load_before = os.getloadavg()[0]
        lat = latency(index, dev, repeats=args.repeats)
        load_after = os.getloadavg()[0]
        data[backend] = {"encoder": encoder.name, "latency_ms": lat,
                         "load_average_1min": [round(load_before, 2), round(load_after, 2)]}
        rows.append([backend, encoder.name, lat["n"], lat["p50"], lat["p95"], lat.get("p99", "-"),
                     f"{load_before:.2f} / {load_after:.2f}"])
    md = ["# Search latency (warm process, single query, embedding included)", "",
          "Target: p95 <= 30 ms on this 2-core machine. Each dev-set query is embedded afresh (no query cache). "
          "`load_encoder` pins the OpenMP/BLAS pools of faiss and scikit-learn to one thread (knowledge/threads.py); "
          "before that they spun against the encoder on the 2 cores (p95 176 ms torch / 90-120 ms onnx). "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; onnxruntime uses both cores.", "",
          md_table(["backend", "encoder", "queries", "p50 ms", "p95 ms", "p99 ms", "load avg before / after"], rows)]
    write_results("search_latency", data, "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
