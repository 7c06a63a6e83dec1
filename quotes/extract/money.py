"""Amounts: the sum insured ('保额50万', '50w', '一百万') and a phone's purchase price ('6999买的', '4500')."""
from __future__ import annotations

import re
from typing import Optional

from quotes.extract.context import Context, Found

# "50万", "50w", "50万块"; never "50万 1年" (a space ends the amount)
WAN_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:万|w(?![a-z]))\s*(?:元|块)?")
_BIG_NUMBER_RE = re.compile(r"(?<![\d.])(\d{6,8})(?![\d.])")
_PHONE_CONTEXT = re.compile(r"手机|iphone|华为|小米|oppo|vivo|荣耀|三星|苹果|mate|pixel|一加|红米|realme|魅族|折叠屏|碎屏|屏幕|机子|新机")
_PRICE_RE = re.compile(r"(?:[¥$]\s*)?(?<![a-z0-9.])(\d{3,5}(?:\.\d{1,2})?)\s*(?:元|块|rmb)?(?![\d.年月日天个岁类号万周])")
_PRICE_K_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d)?)\s*k(?![a-z])")
_WAN_AND_THOUSANDS_RE = re.compile(r"(?<![\d.])(\d)\s*(?:w|万)\s*(\d)(?![\d万w])")   # "1w3" = 13000
# money spent on something else: "修了800", "换屏花了1000多"
_NOT_THE_PRICE_BEFORE = re.compile(r"(修了|换屏花了|换屏|维修|修)\s*$")


def phone_context(ctx: Context) -> bool:
    return ctx.product == "screen" or ctx.asked in ("phone_price_cny", "phone_activation_days") or bool(
        _PHONE_CONTEXT.search(ctx.raw))


def phone_price(ctx: Context) -> Optional[Found]:
    m = ctx.first(_WAN_AND_THOUSANDS_RE)
    if m:
        return Found(float(m.group(1)) * 10000 + float(m.group(2)) * 1000, ctx.words(m))
    for m in ctx.take(WAN_RE, use=False):
        before, after = ctx.text[max(0, m.start() - 3):m.start()], ctx.text[m.end():m.end() + 4]
        if "保额" not in before and ("手机" in after or after[:1] == "的" or ctx.asked == "phone_price_cny"
                                   or ctx.product == "screen"):
            ctx.mark(m)
            return Found(float(m.group(1)) * 10000, ctx.words(m))
    m = ctx.first(_PRICE_K_RE)
    if m:
        return Found(float(m.group(1)) * 1000, ctx.words(m))
    for m in ctx.take(_PRICE_RE, use=False):
        value = float(m.group(1))
        year_like = 1990 <= value <= ctx.today.year + 1 and ctx.text[m.end():m.end() + 1] in "年-./"
        spent = bool(_NOT_THE_PRICE_BEFORE.search(ctx.text[max(0, m.start() - 4):m.start()])) or \
            ctx.text[m.end():m.end() + 1] == "多"
        if 100 <= value <= 99999 and not year_like and not spent:
            ctx.mark(m)
            return Found(value, ctx.words(m))
    return None


# amounts paid or spent, not a sum insured: "上次住院自己掏了1.2万"
_SPENT_BEFORE = re.compile(r"(花了|掏了|花|掏|赔了|报了|用了|付了)\s*$")


def sum_insured(ctx: Context) -> Optional[Found]:
    for m in ctx.take(WAN_RE, use=False):
        if _SPENT_BEFORE.search(ctx.text[max(0, m.start() - 3):m.start()]):
            continue
        ctx.mark(m)
        return Found(int(round(float(m.group(1)) * 10000)), ctx.words(m))
    m = ctx.first(_BIG_NUMBER_RE)
    if m and 100000 <= int(m.group(1)) <= 10000000:
        return Found(int(m.group(1)), ctx.words(m))
    return None
