"""Train the candidate re-ranker from the knowledge base itself (never from the dev set).

Training queries: every FAQ similar question (its own index entry left out, so the model cannot
just recognise it), synthetic clause questions built from product aliases x section words,
follow-ups that rely on the conversation's product, and near-miss questions about products we
do not sell (every candidate negative). The dev set is only used to calibrate the threshold.
"""
from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Optional

import numpy as np

if TYPE_CHECKING:
    from knowledge.search import KnowledgeIndex

log = logging.getLogger(__name__)

CLAUSE_TEMPLATES = ("{alias}{kw}", "{alias}{kw}是怎么规定的", "{alias}条款里{kw}怎么写的", "请问{alias}的{kw}")
FOLLOW_UP_TEMPLATES = ("那{kw}呢", "{kw}怎么说", "这个{kw}是啥")
FOREIGN_TEMPLATES = ("{term}怎么买", "{term}能报销吗", "{term}怎么理赔", "你们有{term}吗", "{term}多少钱")


def training_queries(index: "KnowledgeIndex", seed: int = 13) -> list[tuple[str, Optional[str], Optional[str], Optional[str]]]:
    """(query, gold item id or None, context product, text to exclude from dense search)."""
    rng = random.Random(seed)
    vocab, snap = index.vocab, index.snapshot
    out: list[tuple[str, Optional[str], Optional[str], Optional[str]]] = []
    for faq in snap.faqs:
        for q in faq.similar:
            out.append((q, faq.id, None, q))
    for item_id, questions in snap.clause_questions.items():
        _, pid, section = item_id.split(".", 2)
        plain_faq = vocab.product_faq_sections.get(pid, {}).get(section)
        for q in questions:
            # the same routing rule as the dev set: a plain question on a topic that has its own
            # product FAQ goes to that FAQ; asking for the contract text goes to the clause
            gold = plain_faq if plain_faq and not vocab.asks_for_clause(q) else item_id
            out.append((q, gold, None, q))
    for doc in snap.clause_docs:
        pid = doc.product_id
        aliases = vocab.product_aliases.get(pid, [])[:4]
        faq_topics = vocab.product_faq_sections.get(pid, {})
        for sec in doc.sections():
            words = vocab.section_keywords.get(sec, [])[:4]
            gold = f"clause.{pid}.{sec}"
            for alias in aliases if not snap.clause_questions.get(gold) else ():
                for kw in rng.sample(words, min(2, len(words))):
                    tpl = rng.choice(CLAUSE_TEMPLATES)
                    q = tpl.format(alias=alias, kw=kw)
                    asks_clause = vocab.asks_for_clause(q)
                    out.append((q, faq_topics.get(sec, gold) if not asks_clause else gold, None, None))
            for kw in words[:2]:
                q = rng.choice(FOLLOW_UP_TEMPLATES).format(kw=kw)
                out.append((q, gold, pid, None))
    for term in vocab.foreign_terms:
        out.append((rng.choice(FOREIGN_TEMPLATES).format(term=term), None, None, None))
    return out


def build_training_matrix(index: "KnowledgeIndex") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from knowledge.search import QueryContext

    queries = training_queries(index)
    vecs, _ = _encode_queries(index, [q for q, *_ in queries])
    X, y, groups = [], [], []
    for n, ((q, gold, ctx, exclude), qvec) in enumerate(zip(queries, vecs)):
        qctx = QueryContext.parse(index.vocab, q, ctx)
        cands, feats, _ = index.features(qctx, qvec, exclude_text=exclude)
        for c, row in zip(cands, feats):
            X.append(row)
            y.append(1 if index.item_ids[c] == gold else 0)
            groups.append(n)
    return np.array(X, dtype=np.float32), np.array(y), np.array(groups)


def _encode_queries(index: "KnowledgeIndex", texts: list[str]) -> tuple[np.ndarray, int]:
    from knowledge.encoder import encode_cached

    return encode_cached(index.encoder, index.cache, texts, "query")


def reranker_key(index: "KnowledgeIndex") -> str:
    """Everything the trained model depends on: content, vocabulary, encoder, features and this code."""
    import hashlib
    import json
    from pathlib import Path

    from knowledge.search import FEATURES

    parts = [index.snapshot.version, index.encoder.name, json.dumps(FEATURES),
             json.dumps(index.vocab.__dict__, ensure_ascii=False, sort_keys=True, default=str),
             Path(__file__).read_text(encoding="utf-8"),
             Path(__file__).with_name("search.py").read_text(encoding="utf-8")]
    return "reranker:" + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def load_or_train_reranker(index: "KnowledgeIndex"):
    """The re-ranker for this exact knowledge base, from the cache when it was trained before."""
    import pickle

    key = reranker_key(index)
    blob = index.cache.get_artefact(key)
    if blob is not None:
        return pickle.loads(blob)  # our own cache file under var/: trusted
    model = train_reranker(index)
    index.cache.put_artefact(key, pickle.dumps(model))
    return model


def train_reranker(index: "KnowledgeIndex"):
    """A gradient-boosted classifier over candidate features; P(candidate is the answer)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y, _ = build_training_matrix(index)
    # chosen against logistic regression and a smaller forest on the dev set (bench/results/retrieval.md)
    model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, max_leaf_nodes=31,
                                           min_samples_leaf=20, l2_regularization=1.0, random_state=0)
    model.fit(X, y)
    log.info("re-ranker trained", extra={"event": "knowledge.reranker", "rows": int(len(y)), "positives": int(y.sum())})
    return model
