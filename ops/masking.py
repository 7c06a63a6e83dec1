"""Mask personal data in free text before it is stored for mining (stdlib only; the action server uses it too).

Covers what users type into an insurance chat most: mainland ID numbers, mobile and landline
numbers, bank card numbers, e-mail addresses. The replacement names the kind, so a question stays
readable for ops (我的身份证[身份证号]怎么理赔).
"""
from __future__ import annotations

import re

_PATTERNS = (
    ("[身份证号]", re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])")),
    ("[银行卡号]", re.compile(r"(?<!\d)(?:\d[ -]?){15,18}\d(?!\d)")),
    ("[手机号]", re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")),
    ("[电话]", re.compile(r"(?<!\d)0\d{2,3}[ -]?\d{7,8}(?!\d)")),
    ("[邮箱]", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("[证件号]", re.compile(r"(?<![0-9A-Za-z])[A-Za-z]?\d{8,}[A-Za-z0-9]*(?![0-9A-Za-z])")),
)


def mask_text(text: str) -> str:
    """The text with ID/phone/card numbers and e-mail addresses replaced by a label."""
    for label, pattern in _PATTERNS:
        text = pattern.sub(label, text)
    return text
