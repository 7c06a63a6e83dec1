"""Product catalogue and lexical vocabulary (aliases, section words, products we do not sell)."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

SECTION_TITLES = {
    "coverage": "保险责任",
    "exclusions": "责任免除",
    "waiting_period": "等待期",
    "cooling_off": "犹豫期",
    "term_renewal": "保险期间与续保",
    "deductible": "免赔额与赔付比例",
    "claims": "保险金申请与理赔",
    "disclosure": "如实告知义务",
    "cancellation": "解除合同",
    "definitions": "释义",
}

_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
ARTICLE_RE = re.compile(r"第([一二三四五六七八九十百零两\d]+)条")


def chinese_number(text: str) -> int:
    """'七' -> 7, '十二' -> 12, '二十一' -> 21, '105' -> 105."""
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for ch in text:
        if ch == "百":
            total += (current or 1) * 100
            current = 0
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        else:
            current = _CN_DIGITS[ch]
    return total + current


def article_label(number: int) -> str:
    """7 -> '第七条', 21 -> '第二十一条' (the form clause documents use)."""
    digits = "零一二三四五六七八九"
    if number < 10:
        text = digits[number]
    elif number < 20:
        text = "十" + (digits[number % 10] if number % 10 else "")
    elif number < 100:
        text = digits[number // 10] + "十" + (digits[number % 10] if number % 10 else "")
    else:
        text = str(number)
    return f"第{text}条"


@dataclass(frozen=True)
class Vocabulary:
    product_names: dict[str, str]
    product_aliases: dict[str, list[str]]
    section_keywords: dict[str, list[str]]
    foreign_terms: list[str]
    product_faq_sections: dict[str, dict[str, str]]
    clause_words: list[str]
    public_scheme_terms: list[str] = field(default_factory=list)
    insurance_words: list[str] = field(default_factory=list)
    section_faqs: dict[str, str] = field(default_factory=dict)
    public_scheme_claim_words: list[str] = field(default_factory=list)

    @functools.cached_property
    def _alias_pairs(self) -> list[tuple[str, str]]:
        # longest first, then by text: an order that does not depend on the process's string hashing
        return sorted(((a, pid) for pid, al in self.product_aliases.items() for a in al),
                      key=lambda pair: (-len(pair[0]), pair[0]))

    @functools.cached_property
    def _section_pairs(self) -> list[tuple[str, str]]:
        return sorted(((w, sec) for sec, words in self.section_keywords.items() for w in words),
                      key=lambda pair: (-len(pair[0]), pair[0]))

    def mentioned_products(self, text: str) -> list[str]:
        """Products a message names, longest alias first, so '网约车司机意外险' is not also '意外险'."""
        found: list[str] = []
        for alias, pid in self._alias_pairs:
            if alias in text:
                text = text.replace(alias, "\u0000")
                if pid not in found:
                    found.append(pid)
        return found

    def detect_product(self, text: str) -> Optional[str]:
        """The single product a message is about; None when it names none or compares several."""
        found = self.mentioned_products(text)
        return found[0] if len(found) == 1 else None

    def sections_named(self, text: str) -> set[str]:
        """Clause sections a message names, longest word first: "不保什么" is exclusions, not also the
        "保什么" of coverage."""
        found: set[str] = set()
        for word, sec in self._section_pairs:
            if word in text:
                text = text.replace(word, "\u0000")
                found.add(sec)
        return found

    def foreign_term(self, text: str) -> Optional[str]:
        """A product, company or topic we do not handle, after removing our own product names ('网约车险'
        is not '车险'); a public scheme (医保卡) only when the message names none of our products and
        does not ask about being paid (没用医保卡结算能报吗 is about our cover)."""
        stripped = text
        for alias, _ in self._alias_pairs:
            stripped = stripped.replace(alias, "\u0000")
        found = next((t for t in self.foreign_terms if t in stripped), None)
        if found is None and stripped == text and not any(w in text for w in self.public_scheme_claim_words):
            found = next((t for t in self.public_scheme_terms if t in text), None)
        return found

    def about_insurance(self, text: str) -> bool:
        """The message uses an insurance word, one of our product names or a clause section word."""
        return (any(w in text for w in self.insurance_words) or bool(self.mentioned_products(text))
                or bool(self.sections_named(text)))

    def topic_faqs(self, product: str) -> dict[str, str]:
        """section -> the FAQ that answers it for `product`: its own product FAQ, else the general one."""
        return {**self.section_faqs, **self.product_faq_sections.get(product, {})}

    def asks_for_clause(self, text: str) -> bool:
        return any(w in text for w in self.clause_words) or bool(ARTICLE_RE.search(text))

    @staticmethod
    def article_numbers(text: str) -> list[int]:
        return [chinese_number(m) for m in ARTICLE_RE.findall(text)]


def load_vocabulary(content_dir: Path) -> Vocabulary:
    products = yaml.safe_load((content_dir / "products.yml").read_text(encoding="utf-8"))["products"]
    vocab = yaml.safe_load((content_dir / "vocabulary.yml").read_text(encoding="utf-8"))
    names = {p["id"]: p["name"] for p in products}
    # longest first, then by text: an order that does not depend on the process's string hashing
    aliases = {pid: sorted(set(vocab["product_aliases"].get(pid, [])), key=lambda a: (-len(a), a)) for pid in names}
    return Vocabulary(names, aliases, vocab["section_keywords"], [str(t) for t in vocab["foreign_terms"]],
                      vocab.get("product_faq_sections") or {}, list(vocab.get("clause_words") or []),
                      list(vocab.get("public_scheme_terms") or []), list(vocab.get("insurance_words") or []),
                      dict(vocab.get("section_faqs") or {}), list(vocab.get("public_scheme_claim_words") or []))
