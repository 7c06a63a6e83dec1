"""Mask personal data in free text (stdlib only; used by hand-off cards, transcripts, logs, exports).

What is masked, and how (the ends stay visible so a person can still tell two values apart):

- mainland mobile numbers (optionally +86 / spaced / dashed): ``138****5678``
- landlines with an area code: ``010-****5678``
- resident ID numbers (18 digits or 17 + X, and 15-digit old ones): ``110***********123X``
- bank card numbers (16-19 digits, optionally in groups of 4): ``6222 **** **** 1234`` -> ``6222****1234``
- e-mail addresses: ``z***@qq.com``
- a name right after 我叫 / 姓名是 / 名字是 / 本人姓名 ...: ``我叫张**``

Masking is idempotent (masking masked text changes nothing) and never lengthens digits into
something that looks real. It is a safety net, not a guarantee: free text can hide anything.
"""
from __future__ import annotations

import re
from typing import Any

MASK = "*"

# ID first (an 18-digit ID would otherwise be read as a bank card), then cards, then phones.
_ID18 = re.compile(r"(?<![\dA-Za-z])(\d{6})(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])")
_ID15 = re.compile(r"(?<![\dA-Za-z])\d{6}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?![\dA-Za-z])")
_CARD = re.compile(r"(?<![\d*])(?:\d[ -]?){15,18}\d(?![\d*])")
_MOBILE = re.compile(r"(?<![\d*])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d){8}(?![\d*])")
_LANDLINE = re.compile(r"(?<![\d*])0\d{2,3}[ -]\d{7,8}(?![\d*])")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_NAME_CUE = re.compile(
    r"(我叫|我的名字是|我的名字叫|名字是|名字叫|姓名是|姓名叫|姓名[:：]\s*|本人姓名|被保险人是|投保人是|联系人是?)"
    r"([\u4e00-\u9fff·]{2,5})")
# common words that follow a cue but are not names ("我叫不出来", "姓名是必填的吗")
_NOT_NAMES = ("不", "什么", "啥", "必填", "哪", "怎么", "多少", "谁")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def mask_middle(value: str, keep_start: int, keep_end: int) -> str:
    """``value`` with everything but ``keep_start`` leading and ``keep_end`` trailing chars starred."""
    if len(value) <= keep_start + keep_end:
        return MASK * len(value)
    return value[:keep_start] + MASK * (len(value) - keep_start - keep_end) + value[len(value) - keep_end:]


def _id(match: re.Match) -> str:
    return mask_middle(match.group(0), 3, 4)


def _card(match: re.Match) -> str:
    digits = _digits(match.group(0))
    return digits[:4] + MASK * 4 + digits[-4:]


def _mobile(match: re.Match) -> str:
    digits = _digits(match.group(0))[-11:]
    return digits[:3] + MASK * 4 + digits[-4:]


def _landline(match: re.Match) -> str:
    area, number = re.split(r"[ -]", match.group(0), maxsplit=1)
    return f"{area}-{MASK * (len(number) - 4)}{number[-4:]}"


def _email(match: re.Match) -> str:
    return f"{match.group(1)}***@{match.group(2)}"


def _name(match: re.Match) -> str:
    cue, name = match.group(1), match.group(2)
    if name.startswith(_NOT_NAMES):
        return match.group(0)
    return cue + mask_name(name)


def mask_name(name: str) -> str:
    """张三 -> 张*, 欧阳娜娜 -> 欧***; empty stays empty."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + MASK * max(1, len(name) - 1)


def mask_user_id(user_id: str) -> str:
    """An OpenID / external user id for display: ``oAbc****wxYZ`` (short ids are fully starred)."""
    user_id = user_id or ""
    if len(user_id) <= 8:
        return MASK * len(user_id)
    return mask_middle(user_id, 4, 4)


def mask_text(text: str) -> str:
    """``text`` with phones, ID numbers, bank cards, e-mails and introduced names masked."""
    if not text:
        return text or ""
    out = _EMAIL.sub(_email, text)
    out = _ID18.sub(_id, out)
    out = _ID15.sub(_id, out)
    out = _MOBILE.sub(_mobile, out)
    out = _CARD.sub(_card, out)
    out = _LANDLINE.sub(_landline, out)
    out = _NAME_CUE.sub(_name, out)
    return out


def mask_value(value: Any) -> Any:
    """Mask strings inside a JSON-like value (dicts, lists); other types unchanged."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(v) for v in value]
    return value
