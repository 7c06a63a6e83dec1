"""Training and calibrating the re-ranker (build time only: `make reranker`, the benchmarks, tests).

Training queries come from the knowledge base itself (every FAQ similar question with its own index
entry left out, clause questions, synthetic clause questions from product aliases x section words,
follow-ups that rely on the conversation's product, near misses about products we do not sell) and
from the dev sets in bench/data/ (messages written the way users write, including ones we must not
answer). The dev messages are split into folds: each is scored by a model that never saw it
(out-of-fold), the thresholds are chosen on those scores, and the figures reported are nested —
thresholds chosen on the other folds, measured on the held-out one.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np
import yaml

from knowledge.decision import MAX_OPTIONS, Thresholds
from knowledge.rerank import Reranker

if TYPE_CHECKING:
    from knowledge.search import KnowledgeIndex, QueryContext

ROOT = Path(__file__).resolve().parent.parent
DEV_SETS = (ROOT / "bench" / "data" / "retrieval_devset.yml", ROOT / "bench" / "data" / "retrieval_devset_users.yml")
NLU_DATA = ROOT / "bot" / "data" / "nlu.yml"
FOLDS = 5
DEV_WEIGHT = 2.0  # a real user's phrasing counts more than a generated one
# what the product promises (the resolution targets), with a safety margin for the thresholds
TARGET_WRONG_SHARE = 0.025
TARGET_CLARIFY_RATE = 0.18
TARGET_OOC_REFUSED = 0.92

CLAUSE_TEMPLATES = ("{alias}{kw}", "{alias}{kw}是怎么规定的", "{alias}条款里{kw}怎么写的", "请问{alias}的{kw}")
FOLLOW_UP_TEMPLATES = ("那{kw}呢", "{kw}怎么说", "这个{kw}是啥")
FOREIGN_TEMPLATES = ("{term}怎么买", "{term}能报销吗", "{term}怎么理赔", "你们有{term}吗", "{term}多少钱")
EXCLUSION_TEMPLATES = ("{alias}哪些情况不赔", "{alias}不保什么", "{alias}免责条款", "{alias}什么情况下不给赔")


@dataclass(frozen=True)
class Query:
    text: str
    gold: Optional[str]              # the item that answers it; None = must not be answered
    context_product: Optional[str] = None
    exclude_text: Optional[str] = None  # its own index entry, left out so the model cannot just recognise it


@dataclass
class QueryRows:
    """A query's candidates and features, computed once and reused by every fold."""

    query: Query
    qctx: "QueryContext"
    cands: list[int]
    X: np.ndarray
    y: np.ndarray
    exact: Optional[int]  # candidate position of an indexed question the message equals


def load_dev(paths: Sequence[Path] = DEV_SETS) -> list[Query]:
    out = []
    for path in paths:
        for item in yaml.safe_load(path.read_text(encoding="utf-8"))["items"]:
            out.append(Query(str(item["q"]), item.get("expect"), item.get("context_product")))
    return out


def knowledge_base_queries(index: "KnowledgeIndex", seed: int = 13) -> list[Query]:
    rng = random.Random(seed)
    vocab, snap = index.vocab, index.snapshot
    out: list[Query] = []
    for faq in snap.faqs:
        for q in faq.similar:
            out.append(Query(q, faq.id, None, q))
    for item_id, questions in snap.clause_questions.items():
        _, pid, section = item_id.split(".", 2)
        plain_faq = vocab.product_faq_sections.get(pid, {}).get(section)
        for q in questions:
            # the dev sets' routing rule: a plain question on a topic with its own product FAQ goes to
            # that FAQ; asking for the contract text goes to the clause
            gold = plain_faq if plain_faq and not vocab.asks_for_clause(q) else item_id
            out.append(Query(q, gold, None, q))
    for doc in snap.clause_docs:
        pid = doc.product_id
        aliases = vocab.product_aliases.get(pid, [])[:4]
        faq_topics = vocab.product_faq_sections.get(pid, {})
        for sec in doc.sections():
            words = vocab.section_keywords.get(sec, [])[:4]
            gold = f"clause.{pid}.{sec}"
            for alias in aliases if not snap.clause_questions.get(gold) else ():
                for kw in rng.sample(words, min(2, len(words))):
                    q = rng.choice(CLAUSE_TEMPLATES).format(alias=alias, kw=kw)
                    out.append(Query(q, faq_topics.get(sec, gold) if not vocab.asks_for_clause(q) else gold))
            for kw in words[:2]:
                out.append(Query(rng.choice(FOLLOW_UP_TEMPLATES).format(kw=kw), gold, pid))
        if "exclusions" in doc.sections():
            for alias in aliases[:2]:
                out.append(Query(rng.choice(EXCLUSION_TEMPLATES).format(alias=alias), f"clause.{pid}.exclusions"))
    for term in vocab.foreign_terms:
        out.append(Query(rng.choice(FOREIGN_TEMPLATES).format(term=term), None))
    out += [Query(text, None) for text in out_of_scope_examples()]
    return out


def out_of_scope_examples(path: Path = NLU_DATA) -> list[str]:
    """The NLU's own examples of messages that are not about insurance (天气, 外卖, 笑话): every
    candidate is a wrong answer for them."""
    if not path.exists():
        return []
    for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
        if block.get("intent") == "out_of_scope":
            return [line[2:].strip() for line in str(block.get("examples", "")).splitlines() if line.startswith("- ")]
    return []


def without_dev_messages(queries: Sequence[Query], dev: Sequence[Query]) -> list[Query]:
    """Training queries minus any that is a dev message as typed, so no fold is scored on what it learnt."""
    from knowledge.textnorm import match_key

    held = {match_key(q.text) for q in dev}
    return [q for q in queries if match_key(q.text) not in held]


def query_rows(index: "KnowledgeIndex", queries: Sequence[Query]) -> list[QueryRows]:
    from knowledge.encoder import encode_cached
    from knowledge.search import QueryContext
    from knowledge.textnorm import normalize

    texts = [normalize(q.text) for q in queries]
    vecs, _ = encode_cached(index.encoder, index.cache, texts, "query")
    out = []
    for q, text, qvec in zip(queries, texts, vecs):
        qctx = QueryContext.parse(index.vocab, text, q.context_product)
        cands, X, _ = index.features(qctx, qvec, exclude_text=q.exclude_text)
        y = np.array([1 if index.item_ids[c] == q.gold else 0 for c in cands])
        exact = index._exact_match(qctx, cands) if q.exclude_text is None else None
        out.append(QueryRows(q, qctx, cands, X, y, exact[0] if exact else None))
    return out


def fit(rows: Sequence[QueryRows], weights: Optional[Sequence[float]] = None):
    """A gradient-boosted classifier over candidate features: P(candidate is the answer)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    X = np.concatenate([r.X for r in rows])
    y = np.concatenate([r.y for r in rows])
    w = None if weights is None else np.concatenate([np.full(len(r.y), wt) for r, wt in zip(rows, weights)])
    model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, max_leaf_nodes=31,
                                           min_samples_leaf=20, l2_regularization=1.0, early_stopping=False,
                                           random_state=0)
    model.fit(X, y, sample_weight=w)
    return model


def fit_knowledge_base_only(index: "KnowledgeIndex") -> Reranker:
    """For an encoder no artefact was trained for (unit tests' hashing encoder): no dev data, default thresholds."""
    rows = query_rows(index, knowledge_base_queries(index))
    return Reranker(fit(rows), Thresholds(), {"trained_on": "knowledge base only", "encoder_family": index.encoder.family})


# ---- evaluation ---------------------------------------------------------------------------------
@dataclass
class Scored:
    """One dev message's ranking reduced to what the decision needs (vectorised threshold search)."""

    gold: Optional[str]
    foreign: bool
    exact_right: Optional[bool]   # None: no exact match; else whether the matched topic is right
    exclusions_right: Optional[bool]  # None: the exclusions rule does not apply; else whether its topic is right
    top_scores: np.ndarray        # best MAX_OPTIONS + 1 topic scores (padded with 0)
    top_right: np.ndarray         # whether each of those topics contains the gold item


def scored(index: "KnowledgeIndex", rows: QueryRows, scores: np.ndarray) -> Scored:
    topics = index.topics(rows.qctx, rows.cands, scores)

    def right(topic) -> bool:
        return rows.query.gold is not None and any(index.item_ids[rows.cands[m]] == rows.query.gold for m in topic.members)

    n = MAX_OPTIONS + 1
    top_scores, top_right = np.zeros(n), np.zeros(n, dtype=bool)
    for k, topic in enumerate(topics[:n]):
        top_scores[k] = topic.score
        top_right[k] = right(topic)
    exact_right = right(next(t for t in topics if rows.exact in t.members)) if rows.exact is not None else None
    exclusions = index.exclusions_topic(rows.qctx, rows.cands, topics)
    return Scored(rows.query.gold, rows.qctx.foreign is not None, exact_right,
                  None if exclusions is None else right(exclusions), top_scores, top_right)


class Arrays(dict):
    """The Scored list as arrays, built once per threshold search."""

    @classmethod
    def of(cls, items: Sequence[Scored]) -> "Arrays":
        if isinstance(items, Arrays):
            return items
        return cls(top=np.array([s.top_scores for s in items]).reshape(len(items), MAX_OPTIONS + 1),
                   right=np.array([s.top_right for s in items]).reshape(len(items), MAX_OPTIONS + 1),
                   foreign=np.array([s.foreign for s in items], dtype=bool),
                   exact=np.array([s.exact_right is not None for s in items], dtype=bool),
                   exact_right=np.array([bool(s.exact_right) for s in items], dtype=bool),
                   rule=np.array([s.exclusions_right is not None for s in items], dtype=bool),
                   rule_right=np.array([bool(s.exclusions_right) for s in items], dtype=bool),
                   answerable=np.array([s.gold is not None for s in items], dtype=bool),
                   rephrase=np.array([-1 if r is None else r for r in rephrase_of(items)], dtype=np.int64))

    def __len__(self) -> int:  # number of messages
        return len(self["foreign"])


def outcomes(items, t: Thresholds) -> dict[str, np.ndarray]:
    """Per message: decision (0 refuse, 1 answer, 2 clarify), answer right, gold among the options."""
    a = Arrays.of(items)
    top, right, foreign, exact, exact_right = a["top"], a["right"], a["foreign"], a["exact"], a["exact_right"]
    margin = top[:, 0] - top[:, 1]
    confident = ~exact & ~foreign & (margin >= t.answer)
    rule = ~exact & ~foreign & ~confident & a["rule"]
    answer = exact | confident | rule
    clarify = ~foreign & ~answer & (top[:, 0] >= t.clarify)
    shown = np.zeros_like(right)
    shown[:, 0] = True
    shown[:, 1:MAX_OPTIONS] = top[:, 1:MAX_OPTIONS] >= t.option
    decision = np.where(answer, 1, np.where(clarify, 2, 0))
    answered_right = (exact & exact_right) | (confident & right[:, 0]) | (rule & a["rule_right"])
    in_options = clarify & (right[:, :MAX_OPTIONS] & shown[:, :MAX_OPTIONS]).any(axis=1)
    return {"decision": decision, "answered_right": answered_right, "in_options": in_options}


def rephrase_of(items: Sequence[Scored]) -> list[Optional[int]]:
    """The simulated user's second try: the next dev message with the same answer (cyclic)."""
    by_gold: dict[str, list[int]] = {}
    for n, s in enumerate(items):
        if s.gold is not None:
            by_gold.setdefault(s.gold, []).append(n)
    out: list[Optional[int]] = []
    for n, s in enumerate(items):
        group = by_gold.get(s.gold or "", [])
        out.append(group[(group.index(n) + 1) % len(group)] if len(group) > 1 else None)
    return out


def metrics(items, t: Thresholds) -> dict:
    a = Arrays.of(items)
    o = outcomes(a, t)
    return summarise(a, o["decision"], o["answered_right"], o["in_options"])


def summarise(items, dec: np.ndarray, right: np.ndarray, shown: np.ndarray) -> dict:
    """The resolution figures: a user who picks the right option when shown it, and rephrases once
    (the next dev message with the same answer) after a refusal or options without it."""
    a = Arrays.of(items)
    answerable = a["answerable"]
    reph = a["rephrase"]
    second = (reph >= 0) & right[np.maximum(reph, 0)]
    resolved = right | shown | ((dec != 1) & ~shown & second)
    answers = int((dec == 1).sum())
    wrong = int(((dec == 1) & ~right).sum())
    n_ans, n_ooc = int(answerable.sum()), int((~answerable).sum())
    return {
        "messages": len(items), "answerable": n_ans, "out_of_catalogue": n_ooc,
        "direct_answers": answers, "direct_answer_rate": round(answers / len(items), 4) if items else 0.0,
        "direct_answer_precision": round((answers - wrong) / answers, 4) if answers else 1.0,
        "answered_right_first_turn": round(float(right[answerable].mean()), 4) if n_ans else 0.0,
        "clarification_rate": round(float((dec == 2).mean()), 4) if items else 0.0,
        "clarified_with_answer_shown": round(float(shown[answerable].mean()), 4) if n_ans else 0.0,
        "resolved_within_two_turns": round(float(resolved[answerable].mean()), 4) if n_ans else 0.0,
        "wrong_share_of_answers": round(wrong / answers, 4) if answers else 0.0,
        "out_of_catalogue_refused": round(float((dec[~answerable] == 0).mean()), 4) if n_ooc else 1.0,
    }


GRID_ANSWER = np.round(np.arange(0.02, 0.96, 0.01), 2)
GRID_CLARIFY = np.round(np.arange(0.05, 0.91, 0.01), 2)
GRID_OPTION = (0.05, 0.1, 0.2)


def choose_thresholds(items: Sequence[Scored]) -> Thresholds:
    """The thresholds that resolve the most answerable messages at first contact (a right answer or the
    right option shown) within the targets (wrong answers, clarification rate, refusals of what we cannot
    answer); the least violating when none meets them all.
    Ties go to the higher answer and clarify thresholds (further from a wrong answer), then the lowest option one."""
    arrays = Arrays.of(items)
    best, best_key = Thresholds(), None
    for a in GRID_ANSWER:
        for c in GRID_CLARIFY:
            for o in GRID_OPTION:
                t = Thresholds(float(a), float(c), float(o))
                m = metrics(arrays, t)
                violation = (max(0.0, m["wrong_share_of_answers"] - TARGET_WRONG_SHARE) * 10
                             + max(0.0, m["clarification_rate"] - TARGET_CLARIFY_RATE)
                             + max(0.0, TARGET_OOC_REFUSED - m["out_of_catalogue_refused"]))
                # first contact first: a right answer or the right option at once beats a rephrase
                first = m["answered_right_first_turn"] + m["clarified_with_answer_shown"]
                key = (-round(violation, 6), round(first, 6), m["resolved_within_two_turns"], a, c)
                if best_key is None or key > best_key:
                    best, best_key = t, key
    return best


def fold_of(n_items: int, folds: int = FOLDS, seed: int = 7) -> np.ndarray:
    order = list(range(n_items))
    random.Random(seed).shuffle(order)
    fold = np.zeros(n_items, dtype=np.int64)
    for rank, n in enumerate(order):
        fold[n] = rank % folds
    return fold


@dataclass
class CrossValidation:
    thresholds: Thresholds           # chosen on every out-of-fold score: what ships
    figures: dict                     # nested: thresholds from the other folds, measured on each fold
    out_of_fold: list[Scored]
    oof_scores: list[np.ndarray]


def cross_validate(index: "KnowledgeIndex", kb_rows: Sequence[QueryRows], dev_rows: Sequence[QueryRows],
                   folds: int = FOLDS) -> CrossValidation:
    fold = fold_of(len(dev_rows), folds)
    oof: list[Optional[np.ndarray]] = [None] * len(dev_rows)
    for k in range(folds):
        train = [r for n, r in enumerate(dev_rows) if fold[n] != k]
        model = fit(list(kb_rows) + train, [1.0] * len(kb_rows) + [DEV_WEIGHT] * len(train))
        for n, r in enumerate(dev_rows):
            if fold[n] == k:
                oof[n] = model.predict_proba(r.X)[:, 1]
    items = [scored(index, r, s) for r, s in zip(dev_rows, oof)]
    fold_thresholds = [choose_thresholds([s for n, s in enumerate(items) if fold[n] != k]) for k in range(folds)]
    figures = nested_figures(items, fold, fold_thresholds)
    return CrossValidation(choose_thresholds(items), figures, items, [s for s in oof])


def nested_figures(items: Sequence[Scored], fold: np.ndarray, fold_thresholds: Sequence[Thresholds]) -> dict:
    """Figures over all messages, each fold judged by the thresholds chosen without it."""
    arrays = Arrays.of(items)  # once, not once per fold
    decisions = np.zeros(len(arrays), dtype=np.int64)
    right, shown = np.zeros(len(arrays), bool), np.zeros(len(arrays), bool)
    for k, t in enumerate(fold_thresholds):
        o = outcomes(arrays, t)
        mask = fold == k
        decisions[mask], right[mask], shown[mask] = o["decision"][mask], o["answered_right"][mask], o["in_options"][mask]
    figures = summarise(arrays, decisions, right, shown)
    figures["fold_thresholds"] = [t.to_dict() for t in fold_thresholds]
    return figures


def train_shipped(index: "KnowledgeIndex", dev: Optional[Sequence[Query]] = None) -> tuple[Reranker, CrossValidation]:
    """Cross-validate, choose the thresholds, train the final model on everything: the shipped artefact."""
    import sklearn

    from knowledge.search import FEATURES

    dev = list(dev if dev is not None else load_dev())
    kb_rows = query_rows(index, without_dev_messages(knowledge_base_queries(index), dev))
    dev_rows = query_rows(index, dev)
    cv = cross_validate(index, kb_rows, dev_rows)
    model = fit(list(kb_rows) + list(dev_rows), [1.0] * len(kb_rows) + [DEV_WEIGHT] * len(dev_rows))
    info = {"encoder_family": index.encoder.family, "features": list(FEATURES), "sklearn": sklearn.__version__,
            "knowledge_version": index.version, "dev_messages": len(dev), "kb_queries": len(kb_rows),
            "folds": FOLDS, "dev_weight": DEV_WEIGHT, "cross_validated": cv.figures}
    return Reranker(model, cv.thresholds, info), cv
