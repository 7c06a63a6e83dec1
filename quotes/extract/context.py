"""The message as the extractors share it: text, used spans, and what the conversation already knows."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional


# what may surround a bare answer ("男 32", "大概50吧", "3类"); anything else means the number is about something else
FILLER_RE = re.compile(r"不对|错了|说错|今年|大概|大约|左右|应该|可能|周岁|岁|男|女|了|吧|啊|呀|呢|的|是|我|他|她|约|元|块|万|"
                       r"类|年|宝宝|孩子|出生|刚|才|大|多|[\s,，.。!！~～、]")


@dataclass(frozen=True)
class Found:
    """One fact and the words it was read from."""

    value: Any
    words: str


@dataclass
class Context:
    text: str                      # normalized, product names blanked out
    raw: str                       # normalized, product names kept
    today: dt.date
    asked: Optional[str] = None    # the slot the bot just asked for
    product: Optional[str] = None  # the product being quoted (named now or earlier)
    used: list[tuple[int, int]] = field(default_factory=list)

    def free(self, span: tuple[int, int]) -> bool:
        return all(span[1] <= a or span[0] >= b for a, b in self.used)

    def take(self, pattern: re.Pattern, *, use: bool = True) -> Iterator[re.Match]:
        """Matches over characters no other fact used (marked as used unless `use=False`)."""
        for m in pattern.finditer(self.text):
            if self.free(m.span()):
                if use:
                    self.used.append(m.span())
                yield m

    def first(self, pattern: re.Pattern) -> Optional[re.Match]:
        return next(self.take(pattern), None)

    def mark(self, m: re.Match) -> None:
        self.used.append(m.span())

    def around(self, m: re.Match, before: int = 6, after: int = 6) -> str:
        return self.text[max(0, m.start() - before):m.start()] + "|" + self.text[m.end():m.end() + after]

    def words(self, m: re.Match) -> str:
        return m.group(0).strip()
