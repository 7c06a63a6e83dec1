"""Retrieval benchmark: search latency, index build times and scaling -> bench/results/retrieval.json + .md.
Answer quality (shipped vs dense-only vs BM25 vs Rasa ResponseSelector, cross-validated) is bench/resolution.py.

usage: .venv-app/bin/python bench/retrieval.py [--sizes 10000,100000] [--scaling-only]
--scaling-only runs just the cold builds (100k chunks: ~29 min on a quiet 2-core machine) -> retrieval_scaling.*
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_utils import RESULTS, md_table, percentiles, write_results  # noqa: E402
from bench.retrieval_metrics import Prediction  # noqa: E402
from knowledge.corpus import KnowledgeSnapshot, load_seed  # noqa: E402
from common.settings import load_settings  # noqa: E402
from knowledge.encoder import EmbeddingCache, encode_cached, load_encoder  # noqa: E402
from knowledge.search import KnowledgeIndex  # noqa: E402
from knowledge.vector_index import VectorIndex  # noqa: E402
from knowledge.vocabulary import load_vocabulary  # noqa: E402

CONTENT = ROOT / "knowledge" / "content"
DEVSET = ROOT / "bench" / "data" / "retrieval_devset.yml"


def load_dev() -> list[dict]:
    return yaml.safe_load(DEVSET.read_text(encoding="utf-8"))["items"]


def rasa_baseline(dev: list[dict]) -> list[Prediction]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rs.json"
        subprocess.run([str(ROOT / ".venv-rasa/bin/python"), str(ROOT / "bench/rasa_response_selector.py"), str(out)],
                       check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false", "LOG_LEVEL": "WARNING",
                                                  "PATH": "/usr/bin:/bin"})
        rows = json.loads(out.read_text(encoding="utf-8"))
    by_q = {r["q"]: r for r in rows}
    return [Prediction(by_q[i["q"]]["ids"], by_q[i["q"]]["score"], by_q[i["q"]].get("scores", [])) for i in dev]


def latency(index: KnowledgeIndex, dev: list[dict], repeats: int = 2) -> dict:
    times = []
    for _ in range(repeats):
        for item in dev:
            index._query_cache.clear()  # every query embeds: the honest warm-process latency
            t = time.perf_counter()
            index.search(item["q"], top_k=5, context_product=item.get("context_product"))
            times.append((time.perf_counter() - t) * 1000)
    return percentiles(times)


def synthetic_chunks(snapshot: KnowledgeSnapshot, n: int, seed: int = 0) -> list[str]:
    """Clause-like chunks of ~80-200 characters recombined from the real clause sentences."""
    rng = random.Random(seed)
    sentences = [s.strip() + "。" for d in snapshot.clause_docs for a in d.articles
                 for s in a.text.replace("；", "。").split("。") if len(s.strip()) > 8]
    out = []
    for i in range(n):
        target = rng.randint(80, 200)
        parts = [f"第{i + 1}条"]
        while sum(map(len, parts)) < target:
            parts.append(rng.choice(sentences))
        out.append("".join(parts)[:target])
    return out


class TimedEncoder:
    """Wraps an encoder and adds up the seconds spent inside it, so a build can be split into model
    time and pipeline time within one run (robust to whatever else shares the machine)."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim, self.seconds = inner, inner.name, inner.dim, 0.0

    def encode(self, texts, prompt, **kwargs):
        started = time.perf_counter()
        try:
            return self.inner.encode(texts, prompt, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


def build_chunks(encoder, texts: list[str], cache: EmbeddingCache, desc: str) -> tuple[float, float]:
    """Cold build (cache, embedding, faiss) -> (total seconds, seconds inside the encoder)."""
    timed = TimedEncoder(encoder)
    started = time.perf_counter()
    with tqdm(total=len(texts), desc=desc, unit="chunk", mininterval=2) as bar:
        vecs, _ = encode_cached(timed, cache, texts, "passage", progress=bar.update)
    index = VectorIndex(encoder.dim)
    index.add([f"syn#{i}" for i in range(len(texts))], vecs)
    return time.perf_counter() - started, timed.seconds


def encoder_throughput(encoder, texts: list[str]) -> float:
    sample = texts[: min(len(texts), 2000)]
    started = time.perf_counter()
    encoder.encode(sample, "passage")
    return len(sample) / (time.perf_counter() - started)


def scaling(encoder, snapshot: KnowledgeSnapshot, sizes: list[int]) -> list[dict]:
    rows = []
    for n in sizes:
        texts = synthetic_chunks(snapshot, n, seed=n)
        load_before = os.getloadavg()[0]
        model_rate = encoder_throughput(encoder, texts)
        seconds, in_encoder = build_chunks(encoder, texts, EmbeddingCache(None), f"cold build {n}")
        rows.append({"chunks": n, "build_s": round(seconds, 1), "pipeline_chunks_per_s": round(n / seconds, 1),
                     "encoder_chunks_per_s": round(model_rate, 1),
                     "ratio_to_encoder": round(seconds / (n / model_rate), 3),
                     "encoder_s_in_build": round(in_encoder, 1),
                     "ratio_to_encoder_in_build": round(seconds / in_encoder, 4) if in_encoder else None,
                     "avg_chars": round(float(np.mean([len(t) for t in texts])), 1),
                     "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]})
    return rows


def scaling_markdown(scale: list[dict]) -> list[str]:
    carried = " Rows carried over from the last separate `--scaling-only` run (bench/results/retrieval_scaling.md)." \
        if any("from" in r for r in scale) else ""
    return ["Scaling (cold builds of synthetic clause-like chunks of 80-200 characters: content-hash cache, "
            "embedding, faiss). 'Build / encoder' compares with the encoder alone on a 2,000-chunk sample "
            "just before; 'build / time in encoder' splits the same build into model and pipeline time, "
            "which stays fair when other work shares the cores." + carried, "",
            md_table(["chunks", "avg chars", "build s", "pipeline chunks/s", "encoder alone chunks/s",
                      "build / encoder", "build / time in encoder", "load avg before / after"],
                     [[r["chunks"], r["avg_chars"], r["build_s"], r["pipeline_chunks_per_s"], r["encoder_chunks_per_s"],
                       r["ratio_to_encoder"], r.get("ratio_to_encoder_in_build", "-"),
                       " / ".join(str(x) for x in r.get("load_average_1min", []))] for r in scale])]


def _last_scaling_run() -> list[dict]:
    """``--sizes ""``: the rows of the last ``--scaling-only`` run, each marked as carried over."""
    path = RESULTS / "retrieval_scaling.json"
    if not path.exists():
        return []
    return [{**row, "from": "retrieval_scaling.json (a separate --scaling-only run)"}
            for row in json.loads(path.read_text(encoding="utf-8")).get("scaling", [])]


def scaling_only(encoder, snapshot: KnowledgeSnapshot, sizes: list[int]) -> None:
    """--scaling-only: the long cold builds alone -> bench/results/retrieval_scaling.*"""
    scale = scaling(encoder, snapshot, sizes)
    write_results("retrieval_scaling", {"encoder": encoder.name, "scaling": scale},
                  "\n".join(["# Retrieval index build scaling", "", f"Encoder: {encoder.name}.", "",
                             *scaling_markdown(scale)]) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backend", choices=["onnx", "torch"], help="encoder (default: EMBEDDING_BACKEND)")
    parser.add_argument("--scaling-only", action="store_true",
                        help="only the cold builds of --sizes (~29 min for 100k here) -> retrieval_scaling.*")
    args = parser.parse_args()

    settings = load_settings()
    encoder = load_encoder(args.backend or settings.embedding_backend, settings.embedding_model_dir,
                           settings.embedding_onnx_dir)
    vocab = load_vocabulary(CONTENT)
    snapshot = load_seed(CONTENT)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.scaling_only:
        scaling_only(encoder, snapshot, sizes)
        return
    dev = load_dev()

    t = time.perf_counter()
    index = KnowledgeIndex.build(snapshot, encoder, vocab, cache=EmbeddingCache(None))
    cold_build = time.perf_counter() - t
    cache = EmbeddingCache(None)
    KnowledgeIndex.build(snapshot, encoder, vocab, cache=cache)
    faqs = list(snapshot.faqs)
    faqs[3] = replace(faqs[3], answer=faqs[3].answer + "（已更新）", similar=faqs[3].similar + ("编辑后新增的问法",))
    edited = replace(snapshot, faqs=tuple(faqs))  # keeps clause documents and clause questions
    t = time.perf_counter()
    rebuilt = KnowledgeIndex.build(edited, encoder, vocab, cache=cache)
    edit_rebuild_fresh = time.perf_counter() - t
    # what a publish does (knowledge.service.rebuild(reuse_reranker=True)): the live re-ranker is kept
    t = time.perf_counter()
    quick = KnowledgeIndex.build(edited, encoder, vocab, cache=cache, train_reranker=False)
    quick.reranker = index.reranker
    edit_rebuild = time.perf_counter() - t

    lat = latency(index, dev)
    scale = scaling(encoder, snapshot, sizes) if sizes else _last_scaling_run()
    data = {"encoder": encoder.name, "devset": {"items": len(dev)},
            "latency_ms": lat, "build": {"shipped_entries": index.stats["entries"], "cold_s": round(cold_build, 2),
                                         "one_edit_rebuild_s": round(edit_rebuild, 2),
                                         "one_edit_rebuild_new_index_s": round(edit_rebuild_fresh, 2),
                                         "one_edit_embedded": rebuilt.stats["embedded"]},
            "scaling": scale}
    md = ["# Retrieval benchmark", "",
          f"Encoder: {encoder.name}. Answer quality is in resolution.md (cross-validated, all systems in one run).", "",
          f"Search latency (warm process, single query, embedding included): p50 {lat['p50']} ms, p95 {lat['p95']} ms "
          f"over {lat['n']} queries of bench/data/retrieval_devset.yml.", "",
          f"Index build, shipped corpus ({index.stats['entries']} entries; the shipped re-ranker is loaded, not trained): "
          f"cold {data['build']['cold_s']} s; after editing one FAQ: {data['build']['one_edit_rebuild_s']} s as on "
          f"publish ({rebuilt.stats['embedded']} text re-embedded).", "",
          *scaling_markdown(scale)]
    write_results("retrieval", data, "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
