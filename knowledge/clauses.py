"""Parse a clause document (条款, Markdown with front matter) into article chunks.

Format: front matter (product_id, title, version), `## 责任免除 {#exclusions}` section headings,
and articles that start a paragraph with `第X条`. Each chunk knows product, section and article,
so a hit can be cited as 《百万医疗险条款》第七条 责任免除.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from knowledge.vocabulary import ARTICLE_RE, SECTION_TITLES, chinese_number

FRONT_MATTER_RE = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
SECTION_RE = re.compile(r"^##\s+(?P<title>[^{\n]+?)\s*\{#(?P<key>[a-z_]+)\}\s*$", re.M)
ARTICLE_START_RE = re.compile(r"^\s*(第[一二三四五六七八九十百零两\d]+条)", re.M)


class ClauseFormatError(ValueError):
    """A clause document that cannot be indexed; the message says where and why."""


@dataclass(frozen=True)
class ClauseArticle:
    product_id: str
    doc_title: str
    version: str
    section: str
    section_title: str
    article_no: int
    article_label: str
    text: str

    @property
    def section_id(self) -> str:
        return f"clause.{self.product_id}.{self.section}"

    @property
    def citation(self) -> str:
        return f"《{self.doc_title}》{self.article_label} {self.section_title}"


@dataclass(frozen=True)
class ClauseDocument:
    product_id: str
    title: str
    version: str
    articles: list[ClauseArticle]

    def sections(self) -> list[str]:
        return list(dict.fromkeys(a.section for a in self.articles))


def parse_clause_document(markdown: str, *, source: str = "<clause>") -> ClauseDocument:
    """Parse one clause document; raises ClauseFormatError with a precise reason."""
    markdown = markdown.replace("\r\n", "\n").lstrip("\ufeff")
    fm = FRONT_MATTER_RE.match(markdown)
    if not fm:
        raise ClauseFormatError(f"{source}: missing front matter (--- product_id/title/version ---)")
    meta = yaml.safe_load(fm.group(1)) or {}
    for key in ("product_id", "title"):
        if not meta.get(key):
            raise ClauseFormatError(f"{source}: front matter lacks '{key}'")
    product_id, title, version = str(meta["product_id"]), str(meta["title"]), str(meta.get("version", "1"))
    body = markdown[fm.end():]
    headings = list(SECTION_RE.finditer(body))
    if not headings:
        raise ClauseFormatError(f"{source}: no section headings like '## 责任免除 {{#exclusions}}'")
    articles: list[ClauseArticle] = []
    for i, heading in enumerate(headings):
        key = heading.group("key")
        if key not in SECTION_TITLES:
            raise ClauseFormatError(f"{source}: unknown section key '{key}'")
        end = headings[i + 1].start() if i + 1 < len(headings) else len(body)
        section_text = body[heading.end():end]
        starts = list(ARTICLE_START_RE.finditer(section_text))
        if not starts:
            raise ClauseFormatError(f"{source}: section '{key}' has no article (第X条)")
        for j, start in enumerate(starts):
            chunk_end = starts[j + 1].start() if j + 1 < len(starts) else len(section_text)
            text = " ".join(section_text[start.start():chunk_end].split())
            label = start.group(1)
            number = chinese_number(ARTICLE_RE.match(label).group(1))
            articles.append(ClauseArticle(product_id, title, version, key,
                                          heading.group("title").strip(), number, label, text))
    numbers = [a.article_no for a in articles]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ClauseFormatError(f"{source}: articles must be numbered 第一条.. continuously, got {numbers}")
    return ClauseDocument(product_id, title, version, articles)
