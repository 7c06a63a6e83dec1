"""The quote parser as it was before the per-fact extractors: the benchmark's baseline, kept unchanged.

bench/quote_understanding.py runs it side by side with quotes/parsing.py on the same requests.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Mapping, Optional, Sequence

from connectors.geo import PROVINCES, province_from_label

# -- vocabulary ---------------------------------------------------------------------------------
RELATION_WORDS: dict[str, str] = {
    # parents
    "我妈": "parent", "妈妈": "parent", "老妈": "parent", "母亲": "parent", "我爸": "parent", "爸爸": "parent",
    "老爸": "parent", "父亲": "parent", "老爹": "parent", "爸妈": "parent", "父母": "parent", "我娘": "parent",
    "家里老人": "parent", "老人": "parent", "我爹": "parent", "妈": "parent", "爸": "parent",
    # spouse
    "老婆": "spouse", "老公": "spouse", "妻子": "spouse", "丈夫": "spouse", "爱人": "spouse", "媳妇": "spouse",
    "配偶": "spouse", "太太": "spouse", "夫人": "spouse", "另一半": "spouse", "对象": "other",
    # children
    "孩子": "child", "儿子": "child", "女儿": "child", "宝宝": "child", "小孩": "child", "闺女": "child",
    "子女": "child", "小朋友": "child", "儿童": "child", "婴儿": "child", "新生儿": "child", "娃": "child",
    "宝贝": "child",
    # self
    "我自己": "self", "自己": "self", "本人": "self", "我本人": "self", "给我买": "self", "自用": "self",
    # people we cannot insure online (refused with a reason, not silently ignored)
    "朋友": "other", "同事": "other", "同学": "other", "邻居": "other", "女朋友": "other", "男朋友": "other",
    "女友": "other", "男友": "other", "未婚妻": "other", "未婚夫": "other", "老板": "other", "员工": "other",
    "亲戚": "other", "爷爷": "other", "奶奶": "other", "外公": "other", "外婆": "other", "姥姥": "other",
    "姥爷": "other", "岳父": "other", "岳母": "other", "丈母娘": "other", "老丈人": "other", "公公": "other",
    "婆婆": "other", "哥哥": "other", "姐姐": "other", "弟弟": "other", "妹妹": "other", "叔叔": "other",
    "阿姨": "other", "舅舅": "other", "姑姑": "other", "侄子": "other", "外甥": "other", "孙子": "other",
    "孙女": "other", "儿媳": "other", "女婿": "other", "表哥": "other", "表姐": "other", "堂哥": "other",
}
_SELF_AGE_RE = re.compile(r"(?:^|[^妈爸婆公子儿女娃])我(?:今年)?\s*\d{1,3}\s*(?:周岁|岁)")

# occupation words -> class (1-6) on the common Chinese short-term accident scale
OCCUPATION_WORDS: dict[str, int] = {
    "程序员": 1, "工程师": 1, "老师": 1, "教师": 1, "会计": 1, "文员": 1, "公务员": 1, "白领": 1, "办公室": 1,
    "行政": 1, "医生": 1, "学生": 1, "设计师": 1, "律师": 1, "银行": 1, "家庭主妇": 1, "全职妈妈": 1, "退休": 1,
    "财务": 1, "产品经理": 1, "客服": 1, "坐办公室": 1, "上班族": 1, "研究员": 1, "主播": 1,
    "护士": 2, "销售": 2, "服务员": 2, "店员": 2, "收银员": 2, "理发师": 2, "导游": 2, "厨师": 3, "保安": 3,
    "快递员": 3, "快递": 3, "出租车司机": 3, "网约车司机": 3, "司机": 3, "滴滴": 3, "厨房": 3, "保洁": 2,
    "外卖骑手": 4, "外卖员": 4, "骑手": 4, "送外卖": 4, "货车司机": 4, "卡车司机": 4, "电工": 4, "装修": 4,
    "搬运工": 4, "木工": 4, "焊工": 4, "水电工": 4, "快递小哥": 3,
    "建筑工人": 5, "工地": 5, "消防员": 5, "伐木": 5, "钢筋工": 5, "架子工": 6, "矿工": 6, "井下": 6,
    "采掘": 6, "高空作业": 6, "蜘蛛人": 6, "爆破": 6, "远洋": 6, "渔船": 6, "渔民": 6, "潜水员": 6,
    "特技演员": 6, "高压电工": 6,
}

_ABANDON_RE = re.compile(r"算了|不买了|不要了|不想买了|不想要了|不用了|取消报价|^取消|退出|不报价了|先不买|不考虑了|"
                         r"不需要了|没兴趣|不弄了|不办了|不投了|下次再说|以后再说|改天再说|不看了")
_QUESTION_RE = re.compile(r"[?？]|吗|么|呢\s*$|什么|怎么|怎样|多久|哪些|哪个|哪里|几[天个年次条类]|是否|能不能|可不可以|"
                          r"会不会|有没有|赔不赔|保不保|算不算|能赔|能报|赔吗|包括")
_CORRECTION_RE = re.compile(r"不是\s*(?P<old>[^，,。；;\s]+?)\s*[，,。；;\s]*(?:而|应该|应)?是\s*(?P<new>.+)$")

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_RUN_RE = re.compile(r"[零〇一二两三四五六七八九十百千]+")


@dataclass
class ParsedQuote:
    """Facts found in one message; None = not mentioned."""

    product: Optional[str] = None
    relation: Optional[str] = None
    age: Optional[int] = None
    age_days: Optional[int] = None
    coverage_cny: Optional[int] = None
    payment_mode: Optional[str] = None
    occupation_class: Optional[int] = None
    occupation_word: Optional[str] = None
    phone_price_cny: Optional[float] = None
    phone_activation_days: Optional[int] = None
    province: Optional[str] = None
    driver_certified: Optional[bool] = None
    term_months: Optional[int] = None
    payment_years: Optional[int] = None
    cover_to: Optional[str] = None
    abandon: bool = False

    def found(self) -> dict[str, Any]:
        """The facts that were mentioned (flags and helper fields left out)."""
        return {k: v for k, v in asdict(self).items()
                if v is not None and k not in ("abandon", "occupation_word")}


# -- helpers ------------------------------------------------------------------------------------
def normalize_text(text: str) -> str:
    """NFKC (full-width digits/letters -> ASCII), lower case, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", text or "").lower().split())


def cn_to_int(run: str) -> Optional[int]:
    """'五十八' -> 58, '一百零五' -> 105, '八千五' -> 8500 (colloquial), '一九九零' -> 1990; None if odd."""
    if all(ch in _CN_DIGITS for ch in run):
        return int("".join(str(_CN_DIGITS[ch]) for ch in run)) if len(run) > 1 or run not in ("零", "〇") else 0
    total, current, last_unit, zero = 0, None, 0, False
    for ch in run:
        if ch in ("零", "〇"):
            zero = True
        elif ch in _CN_DIGITS:
            if current is not None:
                return None
            current = _CN_DIGITS[ch]
        else:
            unit = _CN_UNITS[ch]
            if last_unit and unit >= last_unit:
                return None
            total += (1 if current is None else current) * unit
            current, last_unit = None, unit
    if current is not None:
        total += current * (last_unit // 10) if last_unit >= 100 and not zero else current
    return total


def cn_numerals_to_digits(text: str) -> str:
    """Replace runs of Chinese numerals by digits ('五十八岁' -> '58岁'); odd runs stay as they are."""
    def repl(m: re.Match) -> str:
        value = cn_to_int(m.group(0))
        return m.group(0) if value is None else str(value)
    return _CN_RUN_RE.sub(repl, text)


def normalize_province(text: str) -> Optional[str]:
    """'广东省' / '深圳' / '浙江杭州' / '我在厦门' -> short province name ('广东'); None if none is named."""
    text = normalize_text(text)
    if not text:
        return None
    if text in PROVINCES:
        return text
    return province_from_label(text)


def is_abandon(text: str) -> bool:
    return bool(_ABANDON_RE.search(normalize_text(text)))


def looks_like_question(text: str) -> bool:
    return bool(_QUESTION_RE.search(normalize_text(text)))


def split_correction(text: str) -> Optional[tuple[str, str]]:
    """'不是58 是60' -> ('58', '60'); '不是我妈是我爸' -> ('我妈', '我爸'); None otherwise."""
    m = _CORRECTION_RE.search(normalize_text(text))
    return (m.group("old"), m.group("new")) if m else None


class _Text:
    """The message plus the character spans already used, so one number is never read twice."""

    def __init__(self, text: str):
        self.text = text
        self.used: list[tuple[int, int]] = []

    def free(self, span: tuple[int, int]) -> bool:
        return all(span[1] <= a or span[0] >= b for a, b in self.used)

    def take(self, pattern: re.Pattern, *, use: bool = True) -> Iterator[re.Match]:
        for m in pattern.finditer(self.text):
            if self.free(m.span()):
                if use:
                    self.used.append(m.span())
                yield m

    def mark(self, m: re.Match) -> None:
        self.used.append(m.span())

    def around(self, m: re.Match, before: int = 6, after: int = 6) -> str:
        return self.text[max(0, m.start() - before):m.start()] + "|" + self.text[m.end():m.end() + after]


def _first(it: Iterator[re.Match]) -> Optional[re.Match]:
    return next(it, None)


# -- patterns (applied to text whose Chinese numerals are digits) ------------------------------
_DATE_RE = re.compile(r"((?:19|20)\d{2})\s*[年./-]\s*(\d{1,2})\s*(?:[月./-]\s*(\d{1,2})\s*[日号]?|月份?)?")
_YEAR_BIRTH_RE = re.compile(r"((?:19|20)\d{2})\s*年?\s*(?:出生|生人|年生|生的|出世)")
_MONTH_DAY_RE = re.compile(r"(?<![\d.年])(\d{1,2})\s*月\s*(?:(\d{1,2})\s*[日号])?份?")
_ACTIVATION_WORDS = re.compile(r"激活|买|购|入手|开机|到手|新机")
_BIRTH_WORDS = re.compile(r"出生|生日|生的|年生|出世|生人")

_AGE_RE = re.compile(r"(?<![\d.])(\d{1,3})\s*(?:周岁|岁)(?:\s*(\d{1,2})\s*个?月)?(?!以[上下内])")
_AGE_THIS_YEAR_RE = re.compile(r"今年\s*(\d{1,3})(?![\d.万元块年个天类号月])")
_AGE_LE_RE = re.compile(r"(?<![\d.])(\d{1,3})\s*了")
_BABY_MONTHS_RE = re.compile(r"(?<![\d.])(\d{1,2})\s*个?\s*(?:多)?月\s*(?:大|的宝宝|的孩子|的婴儿|宝宝)|出生\s*(?:才)?\s*(\d{1,2})\s*个月")
_BABY_DAYS_RE = re.compile(r"(?<![\d.])(\d{1,3})\s*天\s*(?:大|的宝宝|的孩子)|出生\s*(?:才)?\s*(\d{1,3})\s*天")
_BABY_WEEKS_RE = re.compile(r"(?<![\d.])(\d{1,2})\s*(?:周|星期)\s*大|出生\s*(\d{1,2})\s*(?:周|星期)")
_FULL_MONTH_RE = re.compile(r"满月|刚满月")
_ASKED_BABY_RE = re.compile(r"(?<![\d.])(\d{1,3})\s*(?:天|(个\s*(?:多)?月))(?!前)")

_COVER_TO_70_RE = re.compile(r"(?:保|到|至)\s*(?:到|至)?\s*70\s*(?:周岁|岁)?")
_LIFETIME_RE = re.compile(r"终身|一辈子|终生|保一生|保到老")
_PAY_YEARS_RE = re.compile(r"(?<!\d)(10|20|30)\s*年\s*(?:交|缴|期)|(?:交|缴)\s*(?:费)?\s*(10|20|30)\s*年")

_WAN_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*万(?:\s*(\d)(?![\d万]))?\s*(?:元|块)?")
_BIG_NUMBER_RE = re.compile(r"(?<![\d.])(\d{6,8})(?![\d.])")

_MONTHLY_RE = re.compile(r"月缴|月交|月付|按月|每月|每个月|月月|包月|月供|月费|1\s*个月多少|个月多少|首月\s*1\s*元|(?<![\d.])1\s*元")
_ANNUAL_RE = re.compile(r"年缴|(?<!\d)年交|年付|按年|每年|(?<!\d)1\s*年多少|1次性|一次性|全年|一年交")
_DAILY_RE = re.compile(r"按天|日缴|每天|天付|按日|日付|1\s*天多少|(?<!\d)1\s*天的|日保")

_OCC_CLASS_RE = re.compile(r"(?<![\d.])([1-6])\s*类(?:职业)?|职业\s*(?:类别)?\s*(?:是|为)?\s*([1-6])(?![\d.])")

_PHONE_CONTEXT = re.compile(r"手机|iphone|华为|小米|oppo|vivo|荣耀|三星|苹果|mate|pixel|一加|红米|realme|魅族|折叠屏|碎屏|屏幕")
_PRICE_RE = re.compile(r"(?:[¥$]\s*)?(?<![a-z0-9.])(\d{3,5}(?:\.\d{1,2})?)\s*(?:元|块|rmb)?(?![\d.年月日天个岁类号万周])")
_RELATIVE_ACTIVATION = [
    (re.compile(r"今天|刚买|刚激活|新买|刚入手|刚到手|刚拿到|新机"), 0),
    (re.compile(r"昨天"), 1), (re.compile(r"前天"), 2),
    (re.compile(r"上上个?月"), 60), (re.compile(r"上个?月|上月"), 30),
    (re.compile(r"上周|上个?星期|上礼拜"), 7),
    (re.compile(r"半年"), 183), (re.compile(r"(?<!\d)1\s*年前|买了\s*1\s*年|用了\s*1\s*年"), 365),
]
_ACT_DAYS_RE = re.compile(r"(?<![\d.])(\d{1,4})\s*天(?:前|了|左右)?")
_ACT_MONTHS_RE = re.compile(r"(?<![\d.])(\d{1,2})\s*(?:个\s*(?:多)?月|(?:多)?月\s*(?:前|了))")
_ACT_WEEKS_RE = re.compile(r"(?<![\d.])(\d{1,2})\s*(?:周|星期|礼拜)\s*(?:前|了)?")
_ACT_YEARS_RE = re.compile(r"(?<![\d.])(\d)\s*年\s*(?:前|了|多)")

_TERM_RE = re.compile(r"(?<![\d.])([13])\s*个\s*月(?!大)|(季度)")
_DRIVER_NO_RE = re.compile(r"没认证|未认证|没有认证|还没认证|认证没|没通过|没有网约车|没有驾驶员证|无证|没证|没有证|不是网约车司机|没有双证|没办证")
_DRIVER_YES_RE = re.compile(r"已认证|有认证|认证了|认证过|已经认证|有网约车证|有驾驶员证|持证|有证|双证|已完成认证|认证通过|通过认证|已通过|有资格证")
_YES_RE = re.compile(r"^(?:是|是的|有|有的|对|对的|嗯|嗯嗯|好|已经|当然|yes|ok)[啊呀的了吧!！。.~～]*$")
_NO_RE = re.compile(r"^(?:不是|没有|没|否|不|无|还没|还没有|no)[啊呀的了吧!！。.~～]*$")
_BARE_NUMBER_RE = re.compile(r"^(?P<before>\D{0,6}?)(\d{1,8}(?:\.\d{1,2})?)(?P<after>\D{0,6})$")
# what may surround a bare answer ("男 32", "大概50吧", "3类"); anything else means the number is about something else
_FILLER_RE = re.compile(r"不对|错了|说错|今年|大概|大约|左右|应该|可能|周岁|岁|男|女|了|吧|啊|呀|呢|的|是|我|他|她|约|元|块|万|"
                        r"类|年|宝宝|孩子|出生|刚|才|大|多|"
                        r"[\s,，.。!！~～、]")


def _product_mentions(text: str, aliases: Mapping[str, Sequence[str]]) -> tuple[list[str], str]:
    """Products named (longest alias first) and the text with those names blanked out."""
    pairs = sorted(((a.lower(), pid) for pid, al in aliases.items() for a in al), key=lambda p: len(p[0]), reverse=True)
    found: list[str] = []
    for alias, pid in pairs:
        if alias and alias in text:
            text = text.replace(alias, "，")
            if pid not in found:
                found.append(pid)
    return found, text


def _relation(text: str) -> Optional[str]:
    hits: list[tuple[int, str]] = []
    masked = text
    for word in sorted(RELATION_WORDS, key=len, reverse=True):
        start = masked.find(word)
        while start != -1:
            hits.append((start, RELATION_WORDS[word]))
            masked = masked[:start] + "\u0000" * len(word) + masked[start + len(word):]
            start = masked.find(word)
    if not hits and _SELF_AGE_RE.search(text):
        return "self"
    if not hits:
        return None
    hits.sort()
    others = [r for _, r in hits if r != "self"]
    return others[0] if others else "self"


def _birth_age(year: int, month: int, day: int, today: dt.date) -> Optional[tuple[int, int]]:
    try:
        born = dt.date(year, month, day)
    except ValueError:
        return None
    if born > today:
        return None
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return years, (today - born).days


def _days_since(year: int, month: int, day: int, today: dt.date) -> Optional[int]:
    try:
        when = dt.date(year, month, day)
    except ValueError:
        return None
    if when > today:
        return None
    return (today - when).days


def parse_quote_text(text: str, *, today: dt.date, product_aliases: Mapping[str, Sequence[str]],
                     requested_slot: Optional[str] = None, product: Optional[str] = None) -> ParsedQuote:
    """Every quote fact in `text`. `product` is the product already being quoted (context)."""
    out = ParsedQuote()
    raw = normalize_text(text)
    if not raw:
        return out
    if is_abandon(raw):
        out.abandon = True
        return out
    products, stripped = _product_mentions(raw, product_aliases)
    if len(products) == 1:
        out.product = products[0]
    current = out.product or product
    t = _Text(cn_numerals_to_digits(stripped))
    s = t.text
    asked = requested_slot

    out.relation = _relation(raw)

    phone_ctx = current == "screen" or asked in ("phone_price_cny", "phone_activation_days") or bool(
        _PHONE_CONTEXT.search(raw))
    activation_ctx = phone_ctx and (asked == "phone_activation_days" or bool(_ACTIVATION_WORDS.search(s)))

    # dates: a birth date (age) or the phone's activation date
    for m in t.take(_DATE_RE, use=False):
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
        ctx = t.around(m, 4, 8)
        is_birth = bool(_BIRTH_WORDS.search(ctx)) or (
            not _ACTIVATION_WORDS.search(ctx) and asked != "phone_activation_days"
            and (asked == "insured_age" or not phone_ctx or year < today.year - 3))
        if is_birth:
            got = _birth_age(year, month, day, today)
            if got:
                out.age, days = got
                out.age_days = days if out.age < 1 else None
                t.mark(m)
        elif phone_ctx:
            days = _days_since(year, month, day, today)
            if days is not None:
                out.phone_activation_days = days
                t.mark(m)
        break
    if out.age is None:
        m = _first(t.take(_YEAR_BIRTH_RE))
        if m:
            out.age = today.year - int(m.group(1))

    # cover to age 70 before ages ("保到70岁" is not an age)
    if current in (None, "critical_illness") or asked == "cover_to":
        if _first(t.take(_COVER_TO_70_RE)):
            out.cover_to = "age70"
        elif _LIFETIME_RE.search(s):
            out.cover_to = "lifetime"

    # ages
    if out.age is None:
        m = _first(t.take(_BABY_MONTHS_RE))
        if m:
            out.age_days = int(m.group(1) or m.group(2)) * 30
        elif (m := _first(t.take(_BABY_DAYS_RE))):
            out.age_days = int(m.group(1) or m.group(2))
        elif (m := _first(t.take(_BABY_WEEKS_RE))):
            out.age_days = int(m.group(1) or m.group(2)) * 7
        elif _FULL_MONTH_RE.search(s):
            out.age_days = 30
        elif asked == "insured_age" and (m := _first(t.take(_ASKED_BABY_RE, use=False))) and \
                not _FILLER_RE.sub("", s[:m.start()] + s[m.end():]):   # a bare "40天" answers "how old"
            t.mark(m)
            out.age_days = int(m.group(1)) * (30 if m.group(2) else 1)
        if out.age_days is not None:
            out.age = int(out.age_days // 365.25)
    if out.age is None:
        for m in t.take(_AGE_RE, use=False):
            before = s[max(0, m.start() - 2):m.start()]
            if re.search(r"保$|到$|至$|满$|保到$|保至$", before) or int(m.group(1)) > 120:
                continue
            out.age = int(m.group(1))
            t.mark(m)
            break
    if out.age is None:
        m = _first(t.take(_AGE_THIS_YEAR_RE))
        if m and int(m.group(1)) <= 120:
            out.age = int(m.group(1))
    if out.age is None and (out.relation or asked == "insured_age"):
        for m in t.take(_AGE_LE_RE, use=False):
            if 1 <= int(m.group(1)) <= 110:
                out.age = int(m.group(1))
                t.mark(m)
                break

    # payment years, payment mode, cover term
    m = _first(t.take(_PAY_YEARS_RE))
    if m:
        out.payment_years = int(m.group(1) or m.group(2))
    modes = [(mm.start(), mode) for mode, rx in (("monthly", _MONTHLY_RE), ("annual", _ANNUAL_RE), ("daily", _DAILY_RE))
             for mm in rx.finditer(s)]
    if _MONTHLY_RE.search(raw) and not modes:  # "首月1元" was blanked out as a product alias
        modes.append((0, "monthly"))
    if re.search(r"首月\s*1\s*元|1元意外|一元意外", raw):
        modes.append((-1, "monthly"))
    if modes:
        out.payment_mode = sorted(modes)[-1][1]
    if current == "typhoon" or asked == "term_months":
        m = _first(t.take(_TERM_RE))
        if m:
            out.term_months = 3 if m.group(2) else int(m.group(1))

    # phone: price and activation
    if phone_ctx:
        for m in t.take(_WAN_RE, use=False):
            after = s[m.end():m.end() + 4]
            if "保额" not in s[max(0, m.start() - 3):m.start()] and ("手机" in after or "的" in after[:1]
                                                                   or asked == "phone_price_cny" or current == "screen"):
                out.phone_price_cny = float(m.group(1)) * 10000
                t.mark(m)
                break
        if out.phone_price_cny is None:
            for m in t.take(_PRICE_RE, use=False):
                value = float(m.group(1))
                if 100 <= value <= 99999 and not (1990 <= value <= today.year + 1 and s[m.end():m.end() + 1] in "年-./"):
                    out.phone_price_cny = value
                    t.mark(m)
                    break
    if activation_ctx or (phone_ctx and asked == "phone_activation_days"):
        if out.phone_activation_days is None:
            for rx, days in _RELATIVE_ACTIVATION:
                if rx.search(s):
                    out.phone_activation_days = days
                    break
        if out.phone_activation_days is None:
            for m in t.take(_MONTH_DAY_RE, use=False):
                month, day = int(m.group(1)), int(m.group(2) or 1)
                if not 1 <= month <= 12:
                    continue
                year = today.year if (month, day) <= (today.month, today.day) else today.year - 1
                days = _days_since(year, month, day, today)
                if days is not None:
                    out.phone_activation_days = days
                    t.mark(m)
                    break
        if out.phone_activation_days is None:
            for rx, mult in ((_ACT_DAYS_RE, 1), (_ACT_WEEKS_RE, 7), (_ACT_MONTHS_RE, 30), (_ACT_YEARS_RE, 365)):
                m = _first(t.take(rx))
                if m:
                    out.phone_activation_days = int(m.group(1)) * mult
                    break

    # sum insured
    for m in t.take(_WAN_RE, use=False):
        value = float(m.group(1)) * 10000 + (int(m.group(2)) * 1000 if m.group(2) else 0)
        out.coverage_cny = int(round(value))
        t.mark(m)
        break
    if out.coverage_cny is None:
        m = _first(t.take(_BIG_NUMBER_RE))
        if m and 100000 <= int(m.group(1)) <= 10000000:
            out.coverage_cny = int(m.group(1))

    # occupation
    if current == "accident" or asked == "occupation_class" or "职业" in s:
        m = _first(t.take(_OCC_CLASS_RE))
        if m:
            out.occupation_class = int(m.group(1) or m.group(2))
    if out.occupation_class is None:
        for word in sorted(OCCUPATION_WORDS, key=len, reverse=True):
            if word in stripped and not (word in ("司机", "滴滴") and current == "driver_accident"):
                out.occupation_class, out.occupation_word = OCCUPATION_WORDS[word], word
                break

    # typhoon location
    if current == "typhoon" or asked == "province":
        out.province = normalize_province(stripped)

    # ride-hailing driver certification
    if current == "driver_accident" or asked == "driver_certified" or "认证" in s:
        if _DRIVER_NO_RE.search(s):
            out.driver_certified = False
        elif _DRIVER_YES_RE.search(s):
            out.driver_certified = True
        elif asked == "driver_certified":
            if _NO_RE.match(s.strip()):
                out.driver_certified = False
            elif _YES_RE.match(s.strip()):
                out.driver_certified = True

    _bare_answer(out, t, asked, today)
    return out


def _bare_answer(out: ParsedQuote, t: _Text, asked: Optional[str], today: dt.date) -> None:
    """A bare number answers the question just asked: '35' (age), '50' (50万), '3' (class), '20' (years)."""
    if asked is None or out.found().get(_SLOT_FIELD.get(asked, asked)) is not None:
        return
    m = _BARE_NUMBER_RE.match(t.text.strip())
    if not m or not t.free(m.span(2)) or _FILLER_RE.sub("", m.group("before") + m.group("after")):
        return
    number = float(m.group(2))
    if asked == "insured_age" and number.is_integer() and 0 <= number <= 120:
        out.age = int(number)
    elif asked == "coverage_cny":
        out.coverage_cny = int(number * 10000) if number <= 1000 else int(number)
    elif asked == "occupation_class" and number in (1, 2, 3, 4, 5, 6):
        out.occupation_class = int(number)
    elif asked == "phone_price_cny" and number > 0:
        out.phone_price_cny = number
    elif asked == "phone_activation_days" and number.is_integer():
        out.phone_activation_days = int(number)
    elif asked == "payment_years" and number in (10, 20, 30):
        out.payment_years = int(number)
    elif asked == "term_months" and number in (1, 3):
        out.term_months = int(number)
    elif asked == "cover_to" and number == 70:
        out.cover_to = "age70"


# slot name -> ParsedQuote field (they differ only where the form's slot is more specific)
_SLOT_FIELD = {"insured_age": "age", "insured_relation": "relation", "quote_product": "product"}
