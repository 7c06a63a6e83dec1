"""Retrieval metrics and threshold calibration on the dev set (shared by the benchmark and tests)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

MIN_PRECISION = 0.95


@dataclass
class Prediction:
    ids: list[str]
    score: float


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


def answerable_metrics(expected: Sequence[Optional[str]], preds: Sequence[Prediction], threshold: float) -> dict:
    """Strict: an 'answerable' decision counts as correct only if the top hit is the right id."""
    said_yes = correct = 0
    positives = sum(1 for e in expected if e is not None)
    for exp, pred in zip(expected, preds):
        if pred.ids and pred.score >= threshold:
            said_yes += 1
            correct += exp is not None and pred.ids[0] == exp
    unanswerable = [p for e, p in zip(expected, preds) if e is None]
    refused = sum(1 for p in unanswerable if not (p.ids and p.score >= threshold))
    return {"threshold": round(threshold, 4), "precision": round(correct / said_yes, 4) if said_yes else 1.0,
            "recall": round(correct / positives, 4) if positives else 0.0,
            "unanswerable_refused": f"{refused}/{len(unanswerable)}"}


def calibrate(expected: Sequence[Optional[str]], preds: Sequence[Prediction],
              min_precision: float = MIN_PRECISION) -> float:
    """Lowest threshold whose strict precision reaches `min_precision` (max recall under that bound)."""
    candidates = sorted({p.score for p in preds if p.ids})
    best: Optional[float] = None
    for t in candidates:
        m = answerable_metrics(expected, preds, t)
        if m["precision"] >= min_precision:
            best = t
            break
    if best is None:  # the bound is unreachable: take the most precise threshold
        best = max(candidates, key=lambda t: (answerable_metrics(expected, preds, t)["precision"], -t))
    return float(best)
