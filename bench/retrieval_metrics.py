"""Ranking metrics over the dev sets (hit@1, hit@3, MRR), shared by the benchmarks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence


@dataclass
class Prediction:
    ids: list[str]
    score: float
    scores: list[float] = field(default_factory=list)  # one per id, when the system gives them


def ranking_metrics(expected: Sequence[Optional[str]], preds: Sequence[Prediction]) -> dict:
    n = h1 = h3 = 0
    rr = 0.0
    for exp, pred in zip(expected, preds):
        if exp is None:
            continue
        n += 1
        h1 += pred.ids[:1] == [exp]
        h3 += exp in pred.ids[:3]
        if exp in pred.ids:
            rr += 1.0 / (pred.ids.index(exp) + 1)
    return {"answerable_items": n, "hit@1": round(h1 / n, 4), "hit@3": round(h3 / n, 4), "mrr": round(rr / n, 4)}
