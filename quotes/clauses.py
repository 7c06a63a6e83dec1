"""What every quote must show from the contract: exclusions summary, clause citation, waiting period.

Read from the clause documents (knowledge/content/clauses/<product_id>.md) through the knowledge
library's parser, so a quote cites exactly the articles the knowledge base answers from, and the
clause version goes into the proof-of-display record.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from knowledge.clauses import ClauseArticle, parse_clause_document

SUMMARY_MAX_CHARS = 160
ITEM_MAX_CHARS = 24
_ITEM_RE = re.compile(r"(?<!第)（[一二三四五六七八九十]+）")
_LONG_LIST_RE = re.compile(r"^(?P<head>[^、]*?、[^、]+、[^、]+)、.*等(?P<tail>[^、等]*)$")
_PAREN_RE = re.compile(r"（[^（）]*）")
_SUBJECT_RE = re.compile(r"^被保险人(?!的)")


class ClauseMissing(ValueError):
    """A product's clause document lacks a section every quote must cite."""


@dataclass(frozen=True)
class ClauseFacts:
    product_id: str
    title: str
    version: str
    exclusions_citation: str     # 《百万医疗险条款》第四条、第五条 责任免除
    exclusions_summary: str      # 既往症；故意自伤、自杀；…等
    exclusions_text: str         # the articles in full (kept for audit and "查看全文")
    waiting_citation: str        # 《百万医疗险条款》第六条 等待期


def _article_range(articles: list[ClauseArticle]) -> str:
    labels = [a.article_label for a in articles]
    numbers = [a.article_no for a in articles]
    if len(labels) > 2 and numbers == list(range(numbers[0], numbers[0] + len(numbers))):
        return f"{labels[0]}至{labels[-1]}"
    return "、".join(labels)


def citation(articles: list[ClauseArticle]) -> str:
    first = articles[0]
    return f"《{first.doc_title}》{_article_range(articles)} {first.section_title}"


def _shorten(piece: str) -> str:
    """Keep the gist of a long exclusion: its first clause (plus what an '等' list is about)."""
    if len(piece) <= ITEM_MAX_CHARS:
        return piece
    head, _, rest = piece.partition("，")
    if head.startswith("本合同") and rest:          # "本合同为定额给付，台风造成的…" -> what is excluded
        return _shorten(rest)
    if rest and "等" in rest and not rest.startswith("或"):
        candidate = f"{head}等{rest.rsplit('等', 1)[1]}"
        head = candidate if len(candidate) <= ITEM_MAX_CHARS + 12 else head
    m = _LONG_LIST_RE.match(head)
    if len(head) > ITEM_MAX_CHARS and m:             # "从事潜水、跳伞、攀岩、蹦极…等高风险运动"
        head = f"{m.group('head')}等{m.group('tail')}"
    if len(head) > ITEM_MAX_CHARS and head.count("、") >= 3:   # a long list without 等: its first three
        head = "、".join(head.split("、")[:3]) + "等"
    return head


def _clean(piece: str) -> str:
    piece = piece.strip(" ：:；;。，,")
    label, colon, _ = piece.partition("：")
    if colon and len(label) <= 16:   # "故意损坏：投保人…" -> the label
        piece = label
    piece = _PAREN_RE.sub(lambda m: "" if len(m.group(0)) > 8 else m.group(0), piece)
    piece = _SUBJECT_RE.sub("", piece).strip(" ：:；;。，,")
    return _shorten(piece)


def summary_items(articles: list[ClauseArticle]) -> list[list[str]]:
    """Per article, its enumerated exclusions (（一）…（八）) cleaned and shortened; an article
    without a list contributes what its first sentence excludes."""
    per_article: list[list[str]] = []
    seen: set[str] = set()
    for article in articles:
        items: list[str] = []
        body = article.text[len(article.article_label):].strip()
        parts = _ITEM_RE.split(body)
        if len(parts) > 1:
            pieces = [sub for part in parts[1:] for sub in part.split("。", 1)[0].split("；")]
        else:
            first = body.split("。", 1)[0]
            intro, colon, listed = first.partition("：")
            pieces = listed.split("；") if colon and "下列" in intro else [re.split(r"，保险人", first, maxsplit=1)[0]]
        for piece in pieces:
            cleaned = _clean(piece)
            if cleaned and cleaned not in seen:
                seen.add(cleaned)
                items.append(cleaned)
        per_article.append(items)
    return per_article


def summarise(per_article: list[list[str]], max_chars: int = SUMMARY_MAX_CHARS,
              singled_out: Sequence[str] = ()) -> str:
    """Items in clause order, joined with '；', within `max_chars`; the exclusions the product sheet
    singles out (猝死, 既往症) come in first, then every article's first two items, then the first
    article's rest; ends in '等' when some were left out."""
    missing = [word for word in singled_out if not any(word in item for items in per_article for item in items)]
    if missing:  # shortened away (疾病（含猝死、中暑）…): named on their own, first
        per_article = [missing] + per_article
    order = [(a, i) for a, items in enumerate(per_article) for i in range(len(items))]
    named = [(a, i) for a, i in order if any(word in per_article[a][i] for word in singled_out)]
    priority = named + [(a, i) for a, i in order if a > 0 and i < 2] + [(a, i) for a, i in order if a == 0] + \
               [(a, i) for a, i in order if a > 0 and i >= 2]
    chosen: set[tuple[int, int]] = set()
    length = 0
    for a, i in priority:
        extra = len(per_article[a][i]) + (1 if chosen else 0)
        if length + extra <= max_chars:
            chosen.add((a, i))
            length += extra
    text = "；".join(per_article[a][i] for a, i in order if (a, i) in chosen)
    return text + ("等" if len(chosen) < len(order) else "")


def singled_out_exclusions(product: Mapping[str, Any]) -> tuple[str, ...]:
    """What the product sheet itself says is not covered, so every quote names it: 猝死 for accident
    cover (the sheet's 不保障猝死), 既往症 for health cover that excludes pre-existing conditions."""
    words: list[str] = []
    if product.get("sudden_death") or product.get("kind") == "short_term_accident":
        words.append("猝死")
    if "既往症" in str(product.get("preexisting_conditions") or ""):
        words.append("既往症")
    return tuple(words)


def load_clause_facts(path: Path, singled_out: Sequence[str] = ()) -> ClauseFacts:
    doc = parse_clause_document(Path(path).read_text(encoding="utf-8"), source=str(path))
    exclusions = [a for a in doc.articles if a.section == "exclusions"]
    waiting = [a for a in doc.articles if a.section == "waiting_period"]
    if not exclusions:
        raise ClauseMissing(f"{path}: no 责任免除 {{#exclusions}} section: a quote cannot be shown without it")
    if not waiting:
        raise ClauseMissing(f"{path}: no 等待期 {{#waiting_period}} section")
    return ClauseFacts(
        product_id=doc.product_id,
        title=doc.title,
        version=doc.version,
        exclusions_citation=citation(exclusions),
        exclusions_summary=summarise(summary_items(exclusions), singled_out=singled_out),
        exclusions_text="\n".join(a.text for a in exclusions),
        waiting_citation=citation(waiting),
    )


def load_all_clause_facts(clauses_dir: Path, products: Mapping[str, Mapping[str, Any]]) -> dict[str, ClauseFacts]:
    """Clause facts per product id; `products` maps each id to its product sheet entry."""
    facts = {}
    for product_id, sheet in products.items():
        path = Path(clauses_dir) / f"{product_id}.md"
        if not path.exists():
            raise ClauseMissing(f"{path}: missing: every product needs its clause document")
        facts[product_id] = load_clause_facts(path, singled_out_exclusions(sheet))
        if facts[product_id].product_id != product_id:
            raise ClauseMissing(f"{path}: front matter product_id is '{facts[product_id].product_id}'")
    return facts
