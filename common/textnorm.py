"""User text as every part of the assistant reads it: one form per meaning, whatever was typed.

`normalize_user_text` runs at the edge, before NLU, search and quote parsing (transcripts keep the
words as typed):
- full-width characters become half-width (NFKC: ５０万 → 50万);
- traditional characters become simplified (OpenCC t2s, word-level: 給我媽買百萬醫療 → 给我妈买百万医疗);
- Chinese numerals that state a quantity become digits (cn2an for the value): 三十八岁 → 38岁,
  保额四十万 → 保额40万, 老公三十八 → 老公38, 两个月 → 2个月, 八五年 → 85年. A single numeral is converted
  only before a unit (三岁, 两个月, 五类), so 一 inside words stays (一般, 一起, 一次性, 一年交多少), and a
  run that starts with a unit character is a word, not a number (百万医疗, 千万别, 万一); neighbouring
  digits are a rough range and stay (两三岁, 三四十岁).
"""
from __future__ import annotations

import functools
import re
import unicodedata

_SPACES = re.compile(r"\s+")
_NUMERAL_RUN = re.compile(r"[零〇一二两三四五六七八九十百千万]+")
# what may follow a single numeral for it to be a quantity; 一天 and 一年 are also words (一天到晚, 一年交多少)
_UNIT_AFTER = re.compile(r"(周岁|岁|个多月|个半月|个月|多月|类|万|千|块钱|块|元|期|周|礼拜|星期|w)")
_UNIT_AFTER_NOT_ONE = re.compile(r"(天|年)")
# what may follow a run of digit numerals (no 十百千万) for it to be a year or an age: 八五年, 九零后
_DIGITS_AFTER = re.compile(r"(年|后|岁|周岁)")
_DIGIT_CHARS = frozenset("零〇一二两三四五六七八九")
_WORD_STARTS = frozenset("百千万")
_DIGIT_VALUE = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _is_range(run: str) -> bool:
    """两三, 三四, 七八: two neighbouring digits are "about that many", not a number."""
    return len(run) == 2 and set(run) <= _DIGIT_CHARS and _DIGIT_VALUE[run[1]] - _DIGIT_VALUE[run[0]] == 1


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def _numeral_value(run: str):
    import cn2an

    try:
        return cn2an.cn2an(run, "normal")
    except (ValueError, KeyError, IndexError):
        return None


def _as_digits(run: str, value) -> str:
    if "万" in run and value >= 10000:
        return f"{value / 10000:g}万"
    return str(int(value)) if float(value).is_integer() else str(value)


def _convert(match: re.Match, text: str) -> str:
    run = match.group(0)
    after = text[match.end():match.end() + 4]
    if run[0] in _WORD_STARTS or _is_range(run):
        return run
    if len(run) == 1:
        if not (_UNIT_AFTER.match(after) or (run != "一" and _UNIT_AFTER_NOT_ONE.match(after))):
            return run
    elif set(run) <= _DIGIT_CHARS and len(run) < 4 and not _DIGITS_AFTER.match(after):
        return run
    value = _numeral_value(run)
    return run if value is None else _as_digits(run, value)


_COLLOQUIAL = str.maketrans({"仨": "三", "俩": "两"})


def numerals_to_digits(text: str) -> str:
    """Chinese numerals that state a quantity, written as digits (see the module docstring); 仨/俩 count too."""
    text = re.sub(r"[仨俩](?=个|月|人|岁|天|年)", lambda m: m.group(0).translate(_COLLOQUIAL), text)
    return _NUMERAL_RUN.sub(lambda m: _convert(m, text), text)


@functools.lru_cache(maxsize=8192)
def normalize_user_text(text: str) -> str:
    """Half-width, simplified, single-spaced text with quantities in digits."""
    text = unicodedata.normalize("NFKC", text or "")
    text = _t2s().convert(text)
    return _SPACES.sub(" ", numerals_to_digits(text)).strip()
