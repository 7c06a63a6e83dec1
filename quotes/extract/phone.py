"""When the phone was activated, as days before today (Beijing time): a date ('6月20号激活'), a count
('激活30天', '2个月前') or a relative word ('上周刚激活', '前天', '上上个月')."""
from __future__ import annotations

import datetime as dt
import re
from typing import Optional

from quotes.extract.context import Context, Found

ACTIVATION_WORDS = re.compile(r"激活|买|购|入手|开机|到手|新机|拿到")
_DATE_RE = re.compile(r"((?:19|20)\d{2})\s*[年./-]\s*(\d{1,2})\s*(?:[月./-]\s*(\d{1,2})\s*[日号]?)?")
_MONTH_DAY_RE = re.compile(r"(?<![\d.])(?<!\d年)(\d{1,2})\s*月\s*(?:(\d{1,2})\s*[日号])?份?")
# most specific first: "上上个月" before "上个月", "上周" before a bare count
_RELATIVE = [
    (re.compile(r"上上个?月"), 60), (re.compile(r"上个?月|上月"), 30),
    (re.compile(r"上上周|上上个?星期|上上个?礼拜"), 14), (re.compile(r"上周|上个?星期|上个?礼拜"), 7),
    (re.compile(r"大前天"), 3), (re.compile(r"前天"), 2), (re.compile(r"昨天|昨儿"), 1),
    (re.compile(r"半年前|半年了|用了半年"), 183),
    (re.compile(r"(?<!\d)1\s*年前|买了\s*1\s*年|用了\s*1\s*年|一年前|去年这个时候"), 365),
    (re.compile(r"今天|刚买|刚激活|新买|刚入手|刚到手|刚拿到|新机|当天"), 0),
]
_DAYS_RE = re.compile(r"(?<![\d.])(\d{1,4})\s*天(?:前|了|左右)?")
_MONTHS_RE = re.compile(r"(?<![\d.])(\d{1,2})\s*(?:个\s*(?:多|半)?月|(?:多)?月\s*(?:前|了))")
_WEEKS_RE = re.compile(r"(?<![\d.])(\d{1,2})\s*(?:周|星期|礼拜)\s*(?:前|了)?")
_YEARS_RE = re.compile(r"(?<![\d.])(\d)\s*年\s*(?:前|了|多)")


def _days_since(year: int, month: int, day: int, today: dt.date) -> Optional[int]:
    try:
        when = dt.date(year, month, day)
    except ValueError:
        return None
    return None if when > today else (today - when).days


def activation_days(ctx: Context) -> Optional[Found]:
    for m in ctx.take(_DATE_RE, use=False):
        days = _days_since(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1), ctx.today)
        if days is not None:
            ctx.mark(m)
            return Found(days, ctx.words(m))
    for rx, days in _RELATIVE:
        m = rx.search(ctx.text)
        if m:
            return Found(days, m.group(0))
    for m in ctx.take(_MONTH_DAY_RE, use=False):
        month, day = int(m.group(1)), int(m.group(2) or 1)
        if not 1 <= month <= 12:
            continue
        last_year = "去年" in ctx.text[max(0, m.start() - 4):m.start()]
        year = ctx.today.year if (month, day) <= (ctx.today.month, ctx.today.day) and not last_year else ctx.today.year - 1
        days = _days_since(year, month, day, ctx.today)
        if days is not None:
            ctx.mark(m)
            return Found(days, ctx.words(m))
    for rx, per in ((_DAYS_RE, 1), (_WEEKS_RE, 7), (_MONTHS_RE, 30), (_YEARS_RE, 365)):
        m = ctx.first(rx)
        if m:
            return Found(int(m.group(1)) * per, ctx.words(m))
    return None
