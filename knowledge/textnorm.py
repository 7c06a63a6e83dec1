"""Query text as search sees it: one form per meaning, whatever keyboard or script the user typed.

`normalize` is the assistant's edge normalization (common.textnorm: half-width, simplified, Chinese
quantities in digits, single spaces), so search reads a message exactly as the NLU did. Product names,
section words and BM25 tokens are written in simplified Chinese with digits, so a user typing
百萬醫療 等待期三十天 reaches the same words as one typing 百万医疗 等待期30天.

`match_key` is the stricter form used to recognise a message that *is* an indexed question: also
without punctuation, spaces, emoji and letter case.
"""
from __future__ import annotations

import re

from common.textnorm import normalize_user_text

# everything that is not a letter, digit or CJK character: punctuation, symbols, emoji, spaces
_NOT_WORD = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")


def normalize(text: str) -> str:
    """Half-width, simplified, single-spaced text with quantities in digits (the meaning unchanged)."""
    return normalize_user_text(text)


def match_key(text: str) -> str:
    """The text reduced to its words: equal keys mean the same question as typed."""
    return _NOT_WORD.sub("", normalize(text).lower())
