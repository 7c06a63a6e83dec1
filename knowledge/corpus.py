"""The knowledge base as data: FAQ entries + clause documents -> answer items and index entries.

An *item* is what a search returns (one FAQ, or one clause section of one product).
An *entry* is one text that points at an item (a FAQ's standard or similar question, or one
clause article); several entries per item is how similar questions raise recall.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from knowledge.clauses import ClauseArticle, ClauseDocument, parse_clause_document
from knowledge.vocabulary import SECTION_TITLES

MAX_ANSWER_CHARS = 300


@dataclass(frozen=True)
class FaqEntry:
    id: str
    question: str
    answer: str
    similar: tuple[str, ...] = ()
    products: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, raw: dict) -> "FaqEntry":
        return cls(id=str(raw["id"]), question=str(raw["question"]).strip(),
                   answer=" ".join(str(raw["answer"]).split()),
                   similar=tuple(str(s).strip() for s in raw.get("similar") or () if str(s).strip()),
                   products=tuple(raw.get("products") or ()))

    def to_dict(self) -> dict:
        return {"id": self.id, "question": self.question, "products": list(self.products),
                "similar": list(self.similar), "answer": self.answer}


@dataclass(frozen=True)
class KnowledgeSnapshot:
    """Everything an index is built from; its `version` is a content hash."""

    faqs: tuple[FaqEntry, ...]
    clause_docs: tuple[ClauseDocument, ...]
    clause_sources: tuple[str, ...] = ()
    # sample user questions per clause section id: indexed like FAQ similar questions
    clause_questions: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def version(self) -> str:
        payload = json.dumps([[f.to_dict() for f in self.faqs], list(self.clause_sources),
                              {k: list(v) for k, v in sorted(self.clause_questions.items())}],
                             ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Item:
    id: str
    kind: str  # "faq" | "clause"
    title: str
    text: str
    products: tuple[str, ...]
    section: Optional[str] = None
    articles: tuple[ClauseArticle, ...] = ()

    @property
    def citation(self) -> str:
        if self.kind == "clause":
            return self.articles[0].citation
        return f"常见问题《{self.title}》"


@dataclass(frozen=True)
class Entry:
    key: str        # stable, e.g. "faq.claim.process#q3" or "clause.screen.exclusions#5"
    item_id: str
    text: str
    prompt: str     # "query" (questions) or "passage" (clause articles)
    article: Optional[ClauseArticle] = None


@dataclass
class Corpus:
    items: dict[str, Item] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)

    def entries_for(self, item_id: str) -> list[Entry]:
        return [e for e in self.entries if e.item_id == item_id]


def build_corpus(snapshot: KnowledgeSnapshot) -> Corpus:
    corpus = Corpus()
    for faq in snapshot.faqs:
        corpus.items[faq.id] = Item(faq.id, "faq", faq.question, faq.answer, faq.products)
        for n, q in enumerate(dict.fromkeys((faq.question,) + faq.similar)):
            corpus.entries.append(Entry(f"{faq.id}#q{n}", faq.id, q, "query"))
    for doc in snapshot.clause_docs:
        for section in doc.sections():
            arts = tuple(a for a in doc.articles if a.section == section)
            item_id = arts[0].section_id
            corpus.items[item_id] = Item(item_id, "clause", f"《{doc.title}》{arts[0].section_title}",
                                         "\n".join(a.text for a in arts), (doc.product_id,), section, arts)
            for art in arts:
                corpus.entries.append(Entry(f"{item_id}#{art.article_no}", item_id, art.text, "passage", art))
            for n, q in enumerate(dict.fromkeys(snapshot.clause_questions.get(item_id, ()))):
                corpus.entries.append(Entry(f"{item_id}#q{n}", item_id, q, "query"))
    return corpus


def load_seed(content_dir: Path) -> KnowledgeSnapshot:
    """Read the human-editable seed files (knowledge/content): faq.yml and clauses/*.md."""
    raw = yaml.safe_load((content_dir / "faq.yml").read_text(encoding="utf-8"))
    faqs = tuple(FaqEntry.from_dict(r) for r in raw["faqs"])
    sources, docs = [], []
    for path in sorted((content_dir / "clauses").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        sources.append(text)
        docs.append(parse_clause_document(text, source=str(path)))
    return KnowledgeSnapshot(faqs, tuple(docs), tuple(sources), load_clause_questions(content_dir))


def load_clause_questions(content_dir: Path) -> dict[str, tuple[str, ...]]:
    path = content_dir / "clause_questions.yml"
    if not path.exists():
        return {}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): tuple(str(q).strip() for q in v or () if str(q).strip())
            for k, v in (raw.get("sections") or {}).items()}


def snapshot_from_sources(faqs: list[dict], clause_sources: list[str],
                          clause_questions: Optional[dict[str, list[str]]] = None) -> KnowledgeSnapshot:
    """Build a snapshot from stored records (the ops database keeps the same shapes)."""
    docs = tuple(parse_clause_document(src, source=f"clause #{i + 1}") for i, src in enumerate(clause_sources))
    questions = {k: tuple(v) for k, v in (clause_questions or {}).items()}
    return KnowledgeSnapshot(tuple(FaqEntry.from_dict(f) for f in faqs), docs, tuple(clause_sources), questions)


__all__ = ["FaqEntry", "KnowledgeSnapshot", "Item", "Entry", "Corpus", "build_corpus", "load_seed",
           "snapshot_from_sources", "SECTION_TITLES", "MAX_ANSWER_CHARS"]
