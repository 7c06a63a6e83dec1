"""Query text as search sees it: one form per meaning, whatever keyboard or script the user typed.

`normalize` turns full-width characters into half-width (NFKC), traditional characters into
simplified (OpenCC t2s, the maintained converter; word-level, so 乾燥/干部 stay right) and collapses
whitespace. Product names, section words and BM25 tokens are written in simplified Chinese, so a
user typing 百萬醫療 must reach the same words as one typing 百万医疗.

`match_key` is the stricter form used to recognise a message that *is* an indexed question: also
without punctuation, spaces, emoji and letter case.
"""
from __future__ import annotations

import functools
import re
import unicodedata

_SPACES = re.compile(r"\s+")
# everything that is not a letter, digit or CJK character: punctuation, symbols, emoji, spaces
_NOT_WORD = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


@functools.lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """Half-width, simplified, single-spaced text (the meaning unchanged)."""
    text = unicodedata.normalize("NFKC", text)
    text = _t2s().convert(text)
    return _SPACES.sub(" ", text).strip()


def match_key(text: str) -> str:
    """The text reduced to its words: equal keys mean the same question as typed."""
    return _NOT_WORD.sub("", normalize(text).lower())
