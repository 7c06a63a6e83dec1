"""Train the shipped re-ranker and choose its thresholds: knowledge/model/reranker.{pkl,json}.

usage: .venv-app/bin/python scripts/train_reranker.py   (or `make reranker`)

Run it after changing the features, the training queries or the dev sets (bench/data/), and commit
both files: every machine then loads the same model and the thresholds chosen with it.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from common.settings import load_settings
    from knowledge.corpus import load_seed
    from knowledge.encoder import EmbeddingCache, load_encoder
    from knowledge.rerank import ARTEFACT_DIR, save_artefact
    from knowledge.search import KnowledgeIndex
    from knowledge.training import train_shipped
    from knowledge.vocabulary import load_vocabulary

    settings = load_settings()
    started = time.perf_counter()
    encoder = load_encoder("onnx", settings.embedding_model_dir, settings.embedding_onnx_dir)
    content = ROOT / "knowledge" / "content"
    index = KnowledgeIndex.build(load_seed(content), encoder, load_vocabulary(content),
                                 cache=EmbeddingCache(settings.var_dir / "cache" / "embeddings.sqlite"),
                                 train_reranker=False)
    reranker, cv = train_shipped(index)
    save_artefact(reranker)
    print(json.dumps({"thresholds": reranker.thresholds.to_dict(), "cross_validated": cv.figures,
                      "seconds": round(time.perf_counter() - started, 1)}, ensure_ascii=False, indent=2))
    print(f"written: {ARTEFACT_DIR}/reranker.pkl, reranker.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
