"""Ranked, cited knowledge search: dense retrieval over questions and clause articles, lexical and
product signals, a trained re-ranker, and a calibrated `answerable` decision.

`KnowledgeIndex.build()` does all the heavy work once (embedding through the cache, BM25, training
the re-ranker); `search()` is then a single query embedding plus cheap arithmetic.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import numpy as np

from knowledge.corpus import Corpus, Item, KnowledgeSnapshot, build_corpus
from knowledge.decision import Decision, Thresholds, Topic, decide, group_topics, topic_key
from knowledge.encoder import EmbeddingCache, Encoder, encode_cached
from knowledge.followup import follow_up_query
from knowledge.lexical import BM25, tokenize
from knowledge.textnorm import match_key, normalize
from knowledge.vector_index import VectorIndex
from knowledge.vocabulary import Vocabulary

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 500
DENSE_CANDIDATE_ENTRIES = 120
MAX_CANDIDATES = 25
FOLLOW_UP_MARKERS = ("那", "这个", "这", "它", "该")   # 那等待期呢, 这个理赔要啥材料: about the product in context

FEATURES = (
    "dense", "dense_gap", "dense_rank", "dense_mean3", "bm25", "bm25_rank", "bm25_entry", "is_clause",
    "query_product", "context_product", "product_match", "product_other", "general_faq",
    "section_match", "names_section", "asks_clause", "article_match", "product_faq_topic",
    "foreign_term", "query_len", "about_insurance", "public_scheme",
)


@dataclass(frozen=True)
class Hit:
    id: str
    kind: str
    score: float
    title: str
    text: str
    citation: str
    product: Optional[str] = None
    section: Optional[str] = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Choice:
    """One answer the bot can give: the item it leads with, and the same topic's other kind (the clause
    article behind an FAQ, or the FAQ beside a clause article) when the candidates had it."""

    id: str
    label: str       # what an option shows: an FAQ's standard question, or a clause article's citation
    hit: Hit
    companion: Optional[Hit] = None

    def to_dict(self) -> dict:
        return {"id": self.id, "label": self.label, "hit": self.hit.to_dict(),
                "companion": self.companion.to_dict() if self.companion else None}


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    answerable: bool  # decision == "answer"
    confidence: float = 0.0  # re-ranker margin: P(best topic) - P(runner-up topic)
    product: Optional[str] = None
    reason: str = ""
    timings_ms: dict = field(default_factory=dict)
    decision: str = "refuse"  # "answer" | "clarify" | "refuse"
    choices: list[Choice] = field(default_factory=list)  # the answer (one) or the options, in order shown
    thresholds: dict = field(default_factory=dict)
    matched: Optional[str] = None  # the indexed question the message equals (reason "exact_match")
    top_score: float = 0.0  # P(best topic)
    foreign_term: Optional[str] = None  # the product, company or scheme we do not handle that it names

    @property
    def options(self) -> list[str]:
        return [c.id for c in self.choices] if self.decision == "clarify" else []

    @property
    def answer(self) -> Optional[Choice]:
        return self.choices[0] if self.decision == "answer" and self.choices else None


@dataclass
class QueryContext:
    """What the query says beyond its embedding: product, sections, article numbers, clause words."""

    text: str
    product: Optional[str]
    product_from_context: bool
    sections: set[str]
    articles: list[int]
    asks_clause: bool
    foreign: Optional[str]
    about_insurance: bool = True
    public_scheme: bool = False

    @classmethod
    def parse(cls, vocab: Vocabulary, text: str, context_product: Optional[str]) -> "QueryContext":
        named = vocab.mentioned_products(text)
        product = named[0] if len(named) == 1 else None
        from_ctx = False
        if not named and context_product in vocab.product_names:
            product, from_ctx = context_product, True
        return cls(text, product, from_ctx, vocab.sections_named(text), vocab.article_numbers(text),
                   vocab.asks_for_clause(text), vocab.foreign_term(text), vocab.about_insurance(text),
                   any(t in text for t in vocab.public_scheme_terms))


class KnowledgeIndex:
    """An immutable, fully built index over one knowledge snapshot."""

    def __init__(self, snapshot: KnowledgeSnapshot, corpus: Corpus, encoder: Encoder, vocab: Vocabulary,
                 vectors: np.ndarray, cache: EmbeddingCache) -> None:
        self.snapshot, self.corpus, self.encoder, self.vocab = snapshot, corpus, encoder, vocab
        self.cache = cache
        self.version = snapshot.version
        self.item_ids = list(corpus.items)
        self._item_pos = {iid: n for n, iid in enumerate(self.item_ids)}
        self.entry_item = np.array([self._item_pos[e.item_id] for e in corpus.entries], dtype=np.int64)
        self.vectors = vectors
        self.index = VectorIndex(encoder.dim)
        self.index.add([e.key for e in corpus.entries], vectors)
        self._entry_pos = {e.key: n for n, e in enumerate(corpus.entries)}
        # the knowledge base read like a message (simplified, quantities in digits): both sides of a match alike
        self.bm25 = BM25([tokenize(normalize(self._lexical_text(corpus.items[i]))) for i in self.item_ids])
        self.entry_bm25 = BM25([tokenize(normalize(e.text)) for e in corpus.entries])
        self.reranker = None  # knowledge.rerank.Reranker: the model and the thresholds chosen with it
        self._exact = self._exact_questions(corpus)
        self._query_cache: "OrderedDict[str, np.ndarray]" = OrderedDict()
        self.stats: dict = {}

    # ---- building -----------------------------------------------------------------------
    @classmethod
    def build(cls, snapshot: KnowledgeSnapshot, encoder: Encoder, vocab: Vocabulary, *,
              cache: Optional[EmbeddingCache] = None, train_reranker: bool = True,
              progress: Optional[Callable[[int], None]] = None) -> "KnowledgeIndex":
        started = time.perf_counter()
        cache = cache or EmbeddingCache(None)
        corpus = build_corpus(snapshot)
        vectors = np.zeros((len(corpus.entries), encoder.dim), dtype=np.float32)
        embedded = 0
        for prompt in ("query", "passage"):
            rows = [n for n, e in enumerate(corpus.entries) if e.prompt == prompt]
            if rows:
                vecs, fresh = encode_cached(encoder, cache, [normalize(corpus.entries[n].text) for n in rows], prompt,
                                            progress=progress)
                vectors[rows] = vecs
                embedded += fresh
        index = cls(snapshot, corpus, encoder, vocab, vectors, cache)
        if train_reranker:
            from knowledge.rerank import reranker_for

            index.reranker = reranker_for(index)
        index.stats = {"entries": len(corpus.entries), "items": len(corpus.items), "embedded": embedded,
                       "build_s": round(time.perf_counter() - started, 3)}
        log.info("knowledge index built", extra={"event": "knowledge.built", "version": index.version, **index.stats})
        return index

    @staticmethod
    def _exact_questions(corpus: Corpus) -> dict[str, Optional[tuple[str, str]]]:
        """match_key of every indexed question -> (its item, the question as indexed); None when two items
        share the question."""
        out: dict[str, Optional[tuple[str, str]]] = {}
        for entry in corpus.entries:
            if entry.prompt != "query":
                continue
            key = match_key(entry.text)
            if not key:
                continue
            known = out.get(key, (entry.item_id, entry.text))
            out[key] = (known[0], known[1]) if known is not None and known[0] == entry.item_id else None
        return out

    @property
    def thresholds(self) -> Thresholds:
        return self.reranker.thresholds if self.reranker is not None else Thresholds()

    @staticmethod
    def _lexical_text(item: Item) -> str:
        # FAQ: standard question + answer (similar questions are for the dense side and training)
        return f"{item.title} {item.text}"

    # ---- query side ---------------------------------------------------------------------
    def embed_query(self, text: str) -> np.ndarray:
        vec = self._query_cache.get(text)
        if vec is None:
            vec = self.encoder.encode([text], "query")[0]
            self._query_cache[text] = vec
            if len(self._query_cache) > 2048:
                self._query_cache.popitem(last=False)
        return vec

    def dense_item_scores(self, qvec: np.ndarray, exclude_text: Optional[str] = None
                          ) -> tuple[dict[int, float], dict[int, int]]:
        """Best cosine per item among the top entries, and which entry gave it."""
        best: dict[int, float] = {}
        best_entry: dict[int, int] = {}
        for key, score in self.index.search(qvec, DENSE_CANDIDATE_ENTRIES):
            pos = self._entry_pos[key]
            if exclude_text is not None and self.corpus.entries[pos].text == exclude_text:
                continue
            item = int(self.entry_item[pos])
            if score > best.get(item, -1.0):
                best[item], best_entry[item] = score, pos
        return best, best_entry

    def exact_item_score(self, qvec: np.ndarray, item: int, exclude_text: Optional[str] = None) -> tuple[float, int]:
        rows = np.nonzero(self.entry_item == item)[0]
        if exclude_text is not None:
            rows = np.array([r for r in rows if self.corpus.entries[r].text != exclude_text], dtype=np.int64)
        if len(rows) == 0:
            return 0.0, -1
        sims = self.vectors[rows] @ qvec
        j = int(np.argmax(sims))
        return float(sims[j]), int(rows[j])

    def features(self, qctx: QueryContext, qvec: np.ndarray, exclude_text: Optional[str] = None
                 ) -> tuple[list[int], np.ndarray, dict[int, int]]:
        """Candidate items and their feature rows (order of FEATURES)."""
        dense, best_entry = self.dense_item_scores(qvec, exclude_text)
        tokens = tokenize(qctx.text)
        bm = np.array(self.bm25.scores(tokens), dtype=np.float32)
        bm_max = float(bm.max()) if len(bm) else 0.0
        entry_bm = self._entry_bm25_per_item(tokens, exclude_text)
        entry_bm_max = max(entry_bm.values(), default=0.0)
        cands = sorted(dense, key=dense.get, reverse=True)[:MAX_CANDIDATES]
        cands += [int(i) for i in np.argsort(-bm)[:5] if bm[i] > 0 and int(i) not in cands]
        if qctx.product:
            for sec in sorted(qctx.sections):  # a set: sorted, so the candidate order is the same in every process
                pos = self._item_pos.get(f"clause.{qctx.product}.{sec}")
                if pos is not None and pos not in cands:
                    cands.append(pos)
            for art_no in qctx.articles:
                pos = self._article_item(qctx.product, art_no)
                if pos is not None and pos not in cands:
                    cands.append(pos)
        for c in cands:
            if c not in dense:
                dense[c], best_entry[c] = self.exact_item_score(qvec, c, exclude_text)
        top_dense = max(dense.values()) if dense else 0.0
        sims = self.vectors @ qvec
        dense_rank = {c: r for r, c in enumerate(sorted(cands, key=lambda c: dense[c], reverse=True))}
        bm_rank = {c: r for r, c in enumerate(sorted(cands, key=lambda c: bm[c], reverse=True))}
        faq_topics = self.vocab.product_faq_sections.get(qctx.product or "", {})
        rows = []
        for c in cands:
            item = self.corpus.items[self.item_ids[c]]
            is_clause = item.kind == "clause"
            specific = bool(item.products)
            match = bool(qctx.product and qctx.product in item.products)
            rows.append([
                dense[c], dense[c] - top_dense, min(dense_rank[c], 10), self._mean_top(sims, c, exclude_text),
                (bm[c] / bm_max) if bm_max else 0.0, min(bm_rank[c], 10),
                (entry_bm.get(c, 0.0) / entry_bm_max) if entry_bm_max else 0.0, float(is_clause),
                float(qctx.product is not None and not qctx.product_from_context), float(qctx.product_from_context),
                float(match), float(specific and not match), float(not specific),
                float(is_clause and item.section in qctx.sections), float(bool(qctx.sections)),
                float(qctx.asks_clause),
                float(is_clause and match and any(a.article_no in qctx.articles for a in item.articles)),
                float(item.id in faq_topics.values() and any(s in qctx.sections for s, f in faq_topics.items() if f == item.id)),
                float(qctx.foreign is not None), min(len(qctx.text), 60) / 60.0,
                float(qctx.about_insurance), float(qctx.public_scheme),
            ])
        return cands, np.array(rows, dtype=np.float32).reshape(len(cands), len(FEATURES)), best_entry

    def _entry_bm25_per_item(self, tokens: list[str], exclude_text: Optional[str]) -> dict[int, float]:
        best: dict[int, float] = {}
        for pos, score in enumerate(self.entry_bm25.scores(tokens)):
            if score <= 0 or (exclude_text is not None and self.corpus.entries[pos].text == exclude_text):
                continue
            item = int(self.entry_item[pos])
            if score > best.get(item, 0.0):
                best[item] = score
        return best

    def _mean_top(self, sims: np.ndarray, item: int, exclude_text: Optional[str], n: int = 3) -> float:
        rows = [r for r in np.nonzero(self.entry_item == item)[0]
                if exclude_text is None or self.corpus.entries[r].text != exclude_text]
        if not rows:
            return 0.0
        vals = np.sort(sims[rows])[::-1][:n]
        return float(vals.mean())

    def _article_item(self, product: str, number: int) -> Optional[int]:
        for doc in self.snapshot.clause_docs:
            if doc.product_id == product:
                for art in doc.articles:
                    if art.article_no == number:
                        return self._item_pos.get(art.section_id)
        return None

    def _hit(self, c: int, score: float, entry_pos: int) -> Hit:
        item = self.corpus.items[self.item_ids[c]]
        entry = self.corpus.entries[entry_pos] if entry_pos >= 0 else None
        if item.kind == "clause":
            art = entry.article if entry is not None and entry.article is not None else item.articles[0]
            return Hit(item.id, "clause", round(float(score), 4), item.title, art.text, art.citation,
                       item.products[0], item.section)
        return Hit(item.id, "faq", round(float(score), 4), item.title, item.text, item.citation,
                   item.products[0] if len(item.products) == 1 else None, None)

    def search(self, query: str, top_k: int = 5, context_product: Optional[str] = None,
               mode: str = "full", previous_query: Optional[str] = None) -> SearchResult:
        """mode: 'full' (shipped), 'dense' (nearest neighbour only) or 'bm25' (lexical only).

        previous_query: the conversation's last question; "那重疾险呢" after it asks the same thing
        of 重疾险 (knowledge/followup.py).
        A product known only from earlier turns is a hint, not a filter: when the message names no
        product, is no follow-up about it (那…呢, a clause topic like 等待期, 条款) and is not answered
        in that product's context, it is searched once more without it (扣款失败了怎么办 after
        百万医疗险 is a general question).
        """
        text = normalize(" ".join(query.split())[:MAX_QUERY_CHARS])
        text = follow_up_query(self.vocab, text, normalize(previous_query) if previous_query else None)
        result = self._search(text, top_k, context_product, mode)
        if (mode == "full" and context_product and result.decision != "answer"
                and result.product == context_product and not self._about_the_product(result.query)):
            plain = self._search(text, top_k, None, mode)
            if plain.decision == "answer":
                return plain
        return result

    def _about_the_product(self, text: str) -> bool:
        """A follow-up about the product in context: 那…/这个…, a clause topic, or the contract text."""
        return (text.startswith(FOLLOW_UP_MARKERS) or bool(self.vocab.sections_named(text))
                or self.vocab.asks_for_clause(text))

    def _search(self, text: str, top_k: int, context_product: Optional[str], mode: str) -> SearchResult:
        t0 = time.perf_counter()
        qctx = QueryContext.parse(self.vocab, text, context_product)
        if mode == "bm25":
            bm = self.bm25.scores(tokenize(text))
            order = sorted(range(len(bm)), key=lambda i: bm[i], reverse=True)[:top_k]
            hits = [self._hit(i, bm[i], self.exact_item_score(self.embed_query(text), i)[1]) for i in order if bm[i] > 0]
            return self._ranking_only(text, hits, qctx)
        qvec = self.embed_query(text)
        t1 = time.perf_counter()
        if mode == "dense":
            dense, best_entry = self.dense_item_scores(qvec)
            order = sorted(dense, key=dense.get, reverse=True)[:top_k]
            hits = [self._hit(c, dense[c], best_entry[c]) for c in order]
            return self._ranking_only(text, hits, qctx)
        return self.rank(qctx, qvec, top_k, t0, t1)

    @staticmethod
    def _ranking_only(text: str, hits: list[Hit], qctx: QueryContext) -> SearchResult:
        """A baseline's ranked hits (dense or BM25 alone): its top hit as the answer, no thresholds of its own
        (the benchmarks choose them)."""
        if not hits:
            return SearchResult(text, [], False, 0.0, qctx.product)
        return SearchResult(text, hits, True, hits[0].score, qctx.product, decision="answer",
                            choices=[Choice(hits[0].id, hits[0].title, hits[0])])

    def rank(self, qctx: QueryContext, qvec: np.ndarray, top_k: int = 5, t0: Optional[float] = None,
             t1: Optional[float] = None) -> SearchResult:
        """The shipped ranking and decision for a parsed query and its vector."""
        t0 = time.perf_counter() if t0 is None else t0
        t1 = t0 if t1 is None else t1
        cands, X, best_entry = self.features(qctx, qvec)
        scores = self.reranker.predict(X) if self.reranker is not None else X[:, 0]
        order = np.argsort(-scores, kind="stable")[:max(top_k, 2)]
        hits = [self._hit(cands[i], scores[i], best_entry[cands[i]]) for i in order]
        topics = self.topics(qctx, cands, scores)
        thresholds = self.thresholds
        decision = decide(topics, thresholds, foreign=qctx.foreign is not None)
        matched = self._exact_match(qctx, cands)
        if matched is not None:  # an indexed question as typed: an editor decided it is ours
            topic = next(t for t in topics if matched[0] in t.members)
            decision = Decision("answer", "exact_match", decision.margin, (topic,))
        elif decision.decision != "answer" and decision.reason != "foreign_term":
            exclusions = self.exclusions_topic(qctx, cands, topics)
            if exclusions is not None:
                decision = Decision("answer", "exclusions", decision.margin, (exclusions,))
        choices = [self._choice(t, cands, scores, best_entry, qctx,
                                lead=matched[0] if matched is not None and decision.reason == "exact_match" else None)
                   for t in decision.topics]
        t2 = time.perf_counter()
        return SearchResult(qctx.text, hits[:top_k], decision.decision == "answer", round(decision.margin, 4),
                            qctx.product, decision.reason,
                            {"embed": round((t1 - t0) * 1000, 2), "rank": round((t2 - t1) * 1000, 2)},
                            decision.decision, choices, thresholds.to_dict(),
                            matched[1] if matched is not None and decision.reason == "exact_match" else None,
                            round(topics[0].score, 4) if topics else 0.0, qctx.foreign)

    def topics(self, qctx: QueryContext, cands: list[int], scores: np.ndarray) -> list[Topic]:
        topic_faqs = self.vocab.topic_faqs(qctx.product) if qctx.product else {}
        keys = []
        for c in cands:
            item = self.corpus.items[self.item_ids[c]]
            keys.append(topic_key(item.id, item.kind, item.section, item.products, qctx.product, topic_faqs))
        return group_topics(keys, [float(x) for x in scores])  # members: candidate positions in `cands`

    def exclusions_topic(self, qctx: QueryContext, cands: list[int], topics: list[Topic]) -> Optional[Topic]:
        """What one product does not cover is always answerable: a message about one product that asks
        only what is excluded (哪些情况不赔, 不保什么, 免责条款) gets that product's 责任免除 article."""
        if not qctx.product or qctx.sections != {"exclusions"}:
            return None
        pos = self._item_pos.get(f"clause.{qctx.product}.exclusions")
        if pos is None or pos not in cands:
            return None
        member = cands.index(pos)
        return next((t for t in topics if member in t.members), None)

    def _exact_match(self, qctx: QueryContext, cands: list[int]) -> Optional[tuple[int, str]]:
        """(candidate position, the indexed question) when the message is an indexed question as typed."""
        key = match_key(qctx.text)
        found = self._exact.get(key) if key else None
        if found is None:
            return None
        pos = self._item_pos[found[0]]
        return (cands.index(pos), found[1]) if pos in cands else None

    def _choice(self, topic: Topic, cands: list[int], scores: np.ndarray, best_entry: dict[int, int],
                qctx: QueryContext, lead: Optional[int] = None) -> Choice:
        """The topic as one answer: which item leads and which one is cited beside it.

        A product's own FAQ leads its clause article (plain words first, the article cited); a general
        FAQ (等待期是什么) follows the named product's article; asking for the contract text (条款)
        puts the article first."""
        items = [(m, self.corpus.items[self.item_ids[cands[m]]]) for m in topic.members]
        faqs = [m for m, it in items if it.kind == "faq"]
        clauses = [m for m, it in items if it.kind == "clause"]
        if lead is None:
            lead = topic.members[0]
            if faqs and clauses:
                product_faqs = set(self.vocab.product_faq_sections.get(qctx.product or "", {}).values())
                faq_leads = self.item_ids[cands[faqs[0]]] in product_faqs and not qctx.asks_clause
                lead = faqs[0] if faq_leads else clauses[0]
        lead_kind = self.corpus.items[self.item_ids[cands[lead]]].kind
        other = next((m for m in (clauses if lead_kind == "faq" else faqs)), None)
        hit = self._hit(cands[lead], scores[lead], best_entry[cands[lead]])
        companion = self._hit(cands[other], scores[other], best_entry[cands[other]]) if other is not None else None
        label = hit.title if hit.kind == "faq" else hit.citation
        return Choice(hit.id, label, hit, companion)
