"""What the assistant does with a ranked list: answer, ask back with a few options, or refuse.

The re-ranker scores items (one FAQ, or one clause section of one product). Items that answer the
same topic are one answer here: a product's clause section and the FAQ that explains it in plain
words (vocabulary.yml `product_faq_sections`, and `section_faqs` when the question names a product).
Without that, an FAQ and its own clause article split the confidence and a right answer was refused.

- answer:  the best topic leads the runner-up by at least `thresholds.answer`;
- clarify: it does not, but the best topic is still likely (`thresholds.clarify`): "您是想问：" with
           up to three topics scoring at least `thresholds.option`;
- refuse:  otherwise, and always for a product, company or scheme we do not handle.
The search (knowledge/search.py) adds two rules on top: a message that is an indexed question as typed
is answered with it (`exact_match`), and one product's exclusions are always answered (`exclusions`).
The thresholds are chosen together with the re-ranker they apply to (knowledge/rerank.py).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

MAX_OPTIONS = 3


@dataclass(frozen=True)
class Thresholds:
    answer: float = 0.5
    clarify: float = 0.3
    option: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Topic:
    """One answer: the candidate items that say the same thing, best first."""

    key: str
    score: float
    members: list[int] = field(default_factory=list)  # candidate positions, best score first


@dataclass(frozen=True)
class Decision:
    decision: str          # "answer" | "clarify" | "refuse"
    reason: str  # "exact_match" | "confident" | "exclusions" | "clarify" | "low_confidence" | "foreign_term" | "no_candidates"
    margin: float
    topics: tuple[Topic, ...] = ()   # the answer (one) or the options (up to MAX_OPTIONS)


def topic_key(item_id: str, kind: str, section: Optional[str], products: Sequence[str],
              query_product: Optional[str], topic_faqs: dict[str, str]) -> str:
    """Items with the same key answer the same question for this query."""
    if kind == "clause" and section and products:
        return f"{products[0]}:{section}"
    if query_product:
        for sec, faq_id in topic_faqs.items():
            if faq_id == item_id:
                return f"{query_product}:{sec}"
    return item_id


def group_topics(keys: Sequence[str], scores: Sequence[float]) -> list[Topic]:
    """Topics sorted by their best member's score (ties: first candidate first)."""
    topics: dict[str, Topic] = {}
    for pos in sorted(range(len(keys)), key=lambda n: (-float(scores[n]), n)):
        topic = topics.get(keys[pos])
        if topic is None:
            topics[keys[pos]] = Topic(keys[pos], float(scores[pos]), [pos])
        else:
            topic.members.append(pos)
    return list(topics.values())


def decide(topics: Sequence[Topic], thresholds: Thresholds, *, foreign: bool) -> Decision:
    if foreign:
        return Decision("refuse", "foreign_term", 0.0)
    if not topics:
        return Decision("refuse", "no_candidates", 0.0)
    best = topics[0]
    margin = best.score - (topics[1].score if len(topics) > 1 else 0.0)
    if margin >= thresholds.answer:
        return Decision("answer", "confident", margin, (best,))
    if best.score >= thresholds.clarify:
        options = tuple(t for t in topics[:MAX_OPTIONS] if t.score >= thresholds.option) or (best,)
        return Decision("clarify", "clarify", margin, options)
    return Decision("refuse", "low_confidence", margin)
