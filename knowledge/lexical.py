"""BM25 over jieba tokens: a lexical signal for exact terms, and a baseline in the benchmark."""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Sequence

_PUNCT = re.compile(r"[\s\W_]+", re.U)
_jieba = None


def tokenize(text: str) -> list[str]:
    """jieba words without punctuation; jieba is imported (and its dictionary loaded) on first use."""
    global _jieba
    if _jieba is None:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        _jieba = jieba
    return [t for t in _jieba.lcut(text.lower()) if not _PUNCT.fullmatch(t)]


class BM25:
    """Okapi BM25 (k1=1.5, b=0.75) over pre-tokenised documents."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.tfs = [Counter(d) for d in docs]
        self.lens = [len(d) for d in docs]
        self.avgdl = (sum(self.lens) / len(self.lens)) if self.lens else 0.0
        df: Counter = Counter()
        for tf in self.tfs:
            df.update(tf.keys())
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: Sequence[str]) -> list[float]:
        out = []
        for tf, dl in zip(self.tfs, self.lens):
            s = 0.0
            for t in query:
                f = tf.get(t)
                if f:
                    s += self.idf[t] * f * (self.k1 + 1) / (f + self.k1 * (1 - self.b + self.b * dl / self.avgdl))
            out.append(s)
        return out
