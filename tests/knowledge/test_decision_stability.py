"""The same decision on every machine: float noise of the size another CPU produces flips nothing.

Another CPU (AVX-512 or not, another vendor) runs other onnxruntime kernels and sums in another order,
so every vector differs in its last bits. The re-ranker and its thresholds are the same file everywhere
(knowledge/model/), so that noise is the only difference left. Measured here between encodings of the
same text that run different kernels and summation orders: one text vs a padded batch 4.5e-8, ONNX vs
torch 1.4e-7 per component at most (docs/knowledge.md). The test perturbs query and knowledge-base
vectors by ten times the larger and requires every decision and every answer of the standard questions,
the README examples and the dev sets to stay as they are.
"""
from __future__ import annotations

import numpy as np
import pytest

from knowledge.search import KnowledgeIndex, QueryContext
from knowledge.textnorm import normalize
from knowledge.training import load_dev

NOISE = 1.5e-6  # per component, ten times the largest difference measured between kernels
README_EXAMPLES = ["百万医疗险等待期多久", "重疾险哪些情况不赔", "理赔需要准备哪些材料", "人工客服什么时间在线？",
                   "那重疾险呢", "帮我订一份外卖", "车险怎么买"]


def perturb(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noisy = vectors + rng.uniform(-NOISE, NOISE, size=vectors.shape).astype(np.float32)
    return (noisy / np.linalg.norm(noisy, axis=-1, keepdims=True)).astype(np.float32)


def outcome(index: KnowledgeIndex, text: str, context: str | None, qvec: np.ndarray) -> tuple:
    result = index.rank(QueryContext.parse(index.vocab, text, context), qvec, 3)
    return result.decision, tuple(c.id for c in result.choices)


@pytest.fixture(scope="module")
def queries(snapshot):
    items = [(f.question, None) for f in snapshot.faqs] + [(q, None) for q in README_EXAMPLES]
    items += [(q.text, q.context_product) for q in load_dev()]
    return [(normalize(text), context) for text, context in items]


@pytest.mark.parametrize("seed", [1, 2])
def test_decisions_do_not_flip_under_cross_cpu_float_noise(knowledge_index, queries, seed):
    rng = np.random.default_rng(seed)
    noisy_index = KnowledgeIndex(knowledge_index.snapshot, knowledge_index.corpus, knowledge_index.encoder,
                                 knowledge_index.vocab, perturb(knowledge_index.vectors, rng), knowledge_index.cache)
    noisy_index.reranker = knowledge_index.reranker
    flipped = []
    for text, context in queries:
        qvec = knowledge_index.embed_query(text)
        before = outcome(knowledge_index, text, context, qvec)
        after = outcome(noisy_index, text, context, perturb(qvec[None, :], rng)[0])
        if before != after:
            flipped.append((text, before, after))
    assert flipped == []


def test_standard_questions_and_readme_examples_clear_the_decision(knowledge_index, snapshot):
    """Answered by rule (an indexed question as typed, exclusions) or clear of each threshold by 0.03."""
    t = knowledge_index.thresholds
    close = []
    for text in [f.question for f in snapshot.faqs] + README_EXAMPLES:
        r = knowledge_index.search(text)
        if r.reason in ("exact_match", "exclusions", "foreign_term"):
            continue
        gaps = [abs(r.confidence - t.answer), abs(r.top_score - t.clarify)]
        if min(gaps) < 0.03:
            close.append((text, r.decision, r.confidence, r.top_score))
    assert close == []
