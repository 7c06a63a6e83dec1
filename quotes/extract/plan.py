"""What is bought: payment mode, payment years, cover to 70 or for life, a typhoon policy's months."""
from __future__ import annotations

import re
from typing import Optional

from quotes.extract.context import Context, Found

COVER_TO_70_RE = re.compile(r"(?:保|到|至)\s*(?:到|至)?\s*70\s*(?:周岁|岁)?")
_LIFETIME_RE = re.compile(r"终身|一辈子|终生|保一生|保到老|保一辈子")
_PAY_YEARS_RE = re.compile(r"(?<!\d)(10|20|30)\s*年\s*(?:交|缴|期|付)|(?:交|缴|付)\s*(?:费)?\s*(?:期)?\s*(10|20|30)\s*年")
_MONTHLY_RE = re.compile(r"月缴|月交|月付|按月|每月|每个月|月月|包月|月供|月费|月扣|月教|yue\s*jiao|1\s*个月多少|个月多少|"
                         r"一个月多少|首月\s*1\s*元|(?<![\d.])1\s*(?:元|块)")
_ANNUAL_RE = re.compile(r"年缴|(?<!\d)年交|年付|按年|每年|(?<!\d)1\s*年多少|一年多少|1次性|一次性|全年|一年交|一年一交|一次交清|"
                        r"年费|一年的钱|nian\s*jiao")
_DAILY_RE = re.compile(r"按天|日缴|每天|天付|按日|日付|1\s*天多少|一天多少|(?<!\d)1\s*天的|一天的|日保|买一天|买1天|保一天|"
                       r"就一天|当天|一天一天|1天1天")
_TERM_RE = re.compile(r"(?<![\d.])([13])\s*个\s*月(?!大|前)|(一|三)\s*个\s*月(?!大|前)|(季度|(?:买|保)\s*三\s*月)")
# a driver's plan is one day or one month: "一个月的", "1个月1个月买"
_DRIVER_MONTH_RE = re.compile(r"(?<!\d)1\s*个\s*月")
_NOT_WANTED = re.compile(r"(不想|不要|不用|别)\s*$")


def cover_to(ctx: Context) -> Optional[Found]:
    m = ctx.first(COVER_TO_70_RE)
    if m:
        return Found("age70", ctx.words(m))
    m = _LIFETIME_RE.search(ctx.text)
    return Found("lifetime", m.group(0)) if m else None


def payment_years(ctx: Context) -> Optional[Found]:
    m = ctx.first(_PAY_YEARS_RE)
    return Found(int(m.group(1) or m.group(2)), ctx.words(m)) if m else None


def payment_mode(ctx: Context) -> Optional[Found]:
    """The last mode named wins ("年缴多少 算了还是月缴吧"); 1元意外险 is the monthly plan."""
    modes = [(m.start(), mode, m.group(0)) for mode, rx in (("monthly", _MONTHLY_RE), ("annual", _ANNUAL_RE),
                                                           ("daily", _DAILY_RE)) for m in rx.finditer(ctx.text)
             if not _NOT_WANTED.search(ctx.text[max(0, m.start() - 3):m.start()])]   # "不想包月"
    if ctx.product == "driver_accident":
        modes += [(m.start(), "monthly", m.group(0)) for m in _DRIVER_MONTH_RE.finditer(ctx.text)]
    if not modes and _MONTHLY_RE.search(ctx.raw):   # "首月1元" is also a product alias, blanked in ctx.text
        modes.append((0, "monthly", _MONTHLY_RE.search(ctx.raw).group(0)))
    if re.search(r"首月\s*1\s*元|1元意外|一元意外", ctx.raw):
        modes.append((-1, "monthly", "首月1元"))
    if not modes:
        return None
    _, mode, words = sorted(modes)[-1]
    return Found(mode, words)


def term_months(ctx: Context) -> Optional[Found]:
    m = ctx.first(_TERM_RE)
    if not m:
        return None
    if m.group(3):
        return Found(3, ctx.words(m))
    return Found(int(m.group(1)) if m.group(1) else (1 if m.group(2) == "一" else 3), ctx.words(m))
