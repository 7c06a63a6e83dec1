"""Free text -> quote facts, in one pass ("我妈58岁想买百万医疗 月缴" -> parent, 58, medical_million, monthly).

Deterministic rules, no model: the facts decide a price, so every extraction must be explainable and
unit-tested. The message is normalized first (common.textnorm: 繁→简, full-width → half-width, Chinese
quantities in digits), then one small extractor per fact reads it (quotes/extract/), sharing the spans
already used so one number is never read twice. Context makes ambiguous text decidable: the slot the bot
just asked for (`requested_slot`: a bare "35" is an age only when the age was asked) and the product being
quoted ("3个月" is a typhoon cover term, "3个月大" a baby's age). Each fact keeps the user's words it came
from (`ParsedQuote.evidence`), stored with the quote as proof of what was understood.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Optional, Sequence

from common.textnorm import normalize_user_text, numerals_to_digits
from connectors.geo import PROVINCES, province_from_label
from quotes.extract import driver, money, occupation, person, phone, plan
from quotes.extract.context import FILLER_RE, Context, Found

_ABANDON_RE = re.compile(r"算了|不买了|不要了|不想买了|不想要了|不用了|取消报价|^取消|退出|不报价了|先不买|不考虑了|"
                         r"不需要了|没兴趣|不弄了|不办了|不投了|下次再说|以后再说|改天再说|不看了")
_QUESTION_RE = re.compile(r"[?？]|吗|么|呢\s*$|什么|怎么|怎样|多久|哪些|哪个|哪里|几[天个年次条类]|是否|能不能|可不可以|"
                          r"会不会|有没有|赔不赔|保不保|算不算|能赔|能报|赔吗|包括")
_CORRECTION_RE = re.compile(r"不是\s*(?P<old>[^，,。；;\s]+?)\s*[，,。；;\s]*(?:而|应该|应)?是\s*(?P<new>.+)$")
_BARE_NUMBER_RE = re.compile(r"^(?P<before>\D{0,6}?)(\d{1,8}(?:\.\d{1,2})?)(?P<after>\D{0,6})$")
# a driver buying the driver product speaks of his own cover: "跑滴滴的", "我自己开"
# products sold one way only: "一个月多少钱" of a typhoon policy is its term, not a payment mode
SINGLE_MODE_PRODUCTS = frozenset({"typhoon", "screen"})
# a sum insured is read where the user chooses one (None: the product is not known yet)
PRODUCTS_WITH_SUM_OPTIONS = frozenset({None, "accident", "critical_illness"})
# what users call a product in a quote request, beside the vocabulary's names: "想买个意外", typos
QUOTE_ONLY_ALIASES: Mapping[str, tuple[str, ...]] = {
    "accident": ("意外鲜", "意外保险", "意外"), "driver_accident": ("司机专属意外险", "网约车意外险", "司机鲜", "司机专属"),
    "medical_million": ("百万医了", "住院医疗那个百万", "百万的医疗"), "critical_illness": ("zhongji", "重疾鲜"),
    "screen": ("碎平险", "碎瓶险", "屏碎险"), "typhoon": ("太风险", "台风天险", "颱風"),
}
_OWN_DRIVING_RE = re.compile(r"我自己开|自己开|自己跑|我跑|我开|跑滴滴|开滴滴|跑网约车|开网约车|我是(网约车)?司机|本人(是)?司机|"
                             r"^(?:在|跑|开)(?:曹操|t3|如祺|花小猪|首汽|享道|美团|高德|嘀嗒|滴滴)")


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
    evidence: dict[str, str] = field(default_factory=dict)   # fact -> the user's words it was read from

    def found(self) -> dict[str, Any]:
        """The facts that were mentioned (flags and helper fields left out)."""
        return {k: v for k, v in asdict(self).items()
                if v is not None and k not in ("abandon", "occupation_word", "evidence")}

    def set(self, name: str, found: Optional[Found]) -> None:
        if found is not None and getattr(self, name) is None:
            setattr(self, name, found.value)
            self.evidence[name] = found.words


# -- helpers ------------------------------------------------------------------------------------
def normalize_text(text: str) -> str:
    """The edge normalization (simplified, half-width, quantities in digits), lower case."""
    return normalize_user_text(text or "").lower()


def cn_to_int(run: str) -> Optional[int]:
    """'五十八' -> 58, '一百零五' -> 105, '八千五' -> 8500 (colloquial), '一九九零' -> 1990; None if odd."""
    import cn2an

    try:
        value = cn2an.cn2an(run, "normal")
    except (ValueError, KeyError, IndexError):
        return None
    return int(value) if float(value).is_integer() else None


def cn_numerals_to_digits(text: str) -> str:
    """Chinese quantities in digits ('五十八岁' -> '58岁'); 一 inside words stays."""
    return numerals_to_digits(text)


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
    """'不是58 是60' -> ('58', '60'); '不是我妈，是我爸' -> ('我妈', '我爸'); None otherwise."""
    m = _CORRECTION_RE.search(normalize_text(text))
    return (m.group("old"), m.group("new")) if m else None


def _product_mentions(text: str, aliases: Mapping[str, Sequence[str]]) -> tuple[list[str], str, dict[str, str]]:
    """Products named (longest alias first), the text with those names blanked out, and the names."""
    pairs = sorted(((a.lower(), pid) for pid, al in aliases.items() for a in al), key=lambda p: len(p[0]), reverse=True)
    found: list[str] = []
    words: dict[str, str] = {}
    for alias, pid in pairs:
        if alias and alias in text:
            text = text.replace(alias, "，")
            if pid not in found:
                found.append(pid)
                words[pid] = alias
    return found, text, words


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
    aliases = {pid: tuple(product_aliases.get(pid, ())) + QUOTE_ONLY_ALIASES.get(pid, ())
               for pid in dict.fromkeys(list(product_aliases) + list(QUOTE_ONLY_ALIASES))}
    products, stripped, names = _product_mentions(raw, aliases)
    if len(products) == 1:
        out.set("product", Found(products[0], names[products[0]]))
    ctx = Context(text=stripped, raw=raw, today=today, asked=requested_slot, product=out.product or product)

    if ctx.product != "screen":   # screen cover has no insured person: the buyer owns the phone
        out.set("relation", person.relation(ctx))
    if ctx.product == "driver_accident" and out.relation is None and (m := _OWN_DRIVING_RE.search(raw)):
        out.set("relation", Found("self", m.group(0)))

    phone_ctx = money.phone_context(ctx)
    activation_ctx = phone_ctx and (ctx.asked == "phone_activation_days" or bool(phone.ACTIVATION_WORDS.search(ctx.text)))

    born = person.birth_date(ctx, phone_ctx) or person.birth_month_day(ctx)
    if born:
        out.set("age", born[0])
        if born[1] is not None:
            out.set("age_days", Found(born[1], born[0].words))
    out.set("age", person.birth_year(ctx))

    # cover to age 70 before ages ("保到70岁" is not an age)
    if ctx.product in (None, "critical_illness") or ctx.asked == "cover_to":
        out.set("cover_to", plan.cover_to(ctx))

    if out.age is None:
        baby = person.baby_age_days(ctx, out.relation)
        if baby:
            out.set("age_days", baby)
            out.set("age", Found(int(baby.value // 365.25), baby.words))
    out.set("age", person.age_in_years(ctx, out.relation))

    out.set("payment_years", plan.payment_years(ctx))
    if ctx.product not in SINGLE_MODE_PRODUCTS:
        out.set("payment_mode", plan.payment_mode(ctx))
    if ctx.product == "typhoon" or ctx.asked == "term_months":
        out.set("term_months", plan.term_months(ctx))

    if phone_ctx:
        out.set("phone_price_cny", money.phone_price(ctx))
    if activation_ctx or (phone_ctx and ctx.asked == "phone_activation_days"):
        out.set("phone_activation_days", phone.activation_days(ctx))

    if ctx.product in PRODUCTS_WITH_SUM_OPTIONS or ctx.asked == "coverage_cny":
        out.set("coverage_cny", money.sum_insured(ctx))
    job = occupation.occupation_class(ctx)
    if job:
        out.set("occupation_class", job[0])
        out.occupation_word = job[1]
    if out.relation is None and ctx.asked in (None, "insured_relation") and ctx.product != "screen" and \
            not person.SOMEONE_ELSE_RE.search(raw) and (
            out.occupation_word or (m := person.SELF_DESCRIPTION_RE.search(raw))):
        out.set("relation", Found("self", out.occupation_word or m.group(0).strip()))

    if ctx.product == "typhoon" or ctx.asked == "province":
        province = normalize_province(stripped)
        if province:
            out.set("province", Found(province, province))
    out.set("driver_certified", driver.certified(ctx))

    _bare_answer(out, ctx)
    return out


def _bare_answer(out: ParsedQuote, ctx: Context) -> None:
    """A bare number answers the question just asked: '35' (age), '50' (50万), '3' (class), '20' (years)."""
    asked = ctx.asked
    if asked is None or out.found().get(_SLOT_FIELD.get(asked, asked)) is not None:
        return
    m = _BARE_NUMBER_RE.match(ctx.text.strip())
    if not m or not ctx.free(m.span(2)) or FILLER_RE.sub("", m.group("before") + m.group("after")):
        return
    number, words = float(m.group(2)), m.group(0).strip()
    value: Any = None
    if asked == "insured_age" and number.is_integer() and 0 <= number <= 120:
        value = int(number)
    elif asked == "coverage_cny":
        value = int(number * 10000) if number <= 1000 else int(number)
    elif asked == "occupation_class" and number in (1, 2, 3, 4, 5, 6):
        value = int(number)
    elif asked == "phone_price_cny" and number > 0:
        value = number
    elif asked == "phone_activation_days" and number.is_integer():
        value = int(number)
    elif asked == "payment_years" and number in (10, 20, 30):
        value = int(number)
    elif asked == "term_months" and number in (1, 3):
        value = int(number)
    elif asked == "cover_to" and number == 70:
        value = "age70"
    if value is not None:
        out.set(_SLOT_FIELD.get(asked, asked), Found(value, words))


# slot name -> ParsedQuote field (they differ only where the form's slot is more specific)
_SLOT_FIELD = {"insured_age": "age", "insured_relation": "relation", "quote_product": "product"}
