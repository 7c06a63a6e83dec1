"""Read a 1-5 satisfaction rating from what the user typed after the hand-off ended."""
from __future__ import annotations

import re
from typing import Optional

_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_NUMBER = re.compile(r"(?<!\d)([1-5])\s*(?:分|星|颗星)")
_FILLER = re.compile(r"[给打吧啊呀了就评分\s,，.。!！~～]")
_CN_NUMBER = re.compile(r"([一二两三四五])\s*(?:分|星|颗星)")
_WORDS = (("非常不满意", 1), ("很不满意", 1), ("太差", 1), ("差评", 1), ("不满意", 2), ("一般", 3),
          ("还行", 3), ("还可以", 4), ("满意", 4), ("好评", 5))
_VERY_GOOD = re.compile(r"(非常|很|特别|超级)满意")
MAX_RATING_TEXT = 20


def parse_rating(text: str, intent: Optional[str] = None) -> Optional[int]:
    """1-5, or None when ``text`` is not a rating.

    Short answers only ("5", "5分", "五星", "非常满意"): a longer message is a new question, not a
    rating, unless NLU classified it as ``rate``.
    """
    text = (text or "").strip()
    if not text or (len(text) > MAX_RATING_TEXT and intent != "rate"):
        return None
    bare = _FILLER.sub("", text)
    if len(bare) == 1 and bare in "12345":
        return int(bare)
    numbers = _NUMBER.findall(text)
    if len(numbers) == 1:
        return int(numbers[0])
    cn = _CN_NUMBER.findall(text)
    if len(cn) == 1:
        return _CN_DIGITS[cn[0]]
    if _VERY_GOOD.search(text) and "不" not in text:
        return 5
    for word, score in _WORDS:
        if word in text:
            return score
    if text in _CN_DIGITS:
        return _CN_DIGITS[text]
    return None
