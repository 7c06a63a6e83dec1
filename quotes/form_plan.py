"""The quote form's logic without Rasa: which slots each product needs, what a message changes,
how each answer is validated, and the question to ask next.

actions/quote_form.py is a thin adapter around this module, so the conversation rules are unit
tested here (tests/quotes/test_form_plan.py) and `rasa test` only has to cover the dialogue flow.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from quotes.catalogue import COVER_TO_LABELS, PAYMENT_MODE_LABELS, RELATION_LABELS, Catalogue, Product, format_cny
from quotes.eligibility import Applicant, check_eligibility
from quotes.parsing import cn_numerals_to_digits, normalize_province, parse_quote_text, split_correction
from quotes.service import QuoteRequest

# every slot the form may fill (domain.yml lists them as the form's required_slots); the order
# of `plan()` decides the order of questions: eligibility facts first, so a refusal comes early
FORM_SLOTS = ("quote_product", "insured_relation", "insured_age", "occupation_class", "phone_price_cny",
              "phone_activation_days", "province", "driver_certified", "coverage_cny", "cover_to", "payment_years",
              "term_months", "payment_mode")
HELPER_SLOTS = ("insured_age_days", "quote_alternative", "quote_evidence")
# facts about the person: a different person (relation changed) must not inherit them
PERSON_SLOTS = ("insured_age", "insured_age_days", "occupation_class", "driver_certified")
# choices that depend on the product: a different product must not inherit them
PRODUCT_CHOICE_SLOTS = ("coverage_cny", "cover_to", "payment_years", "term_months", "payment_mode")

PARSED_TO_SLOT = {"product": "quote_product", "relation": "insured_relation", "age": "insured_age",
                  "age_days": "insured_age_days", "coverage_cny": "coverage_cny", "payment_mode": "payment_mode",
                  "occupation_class": "occupation_class", "phone_price_cny": "phone_price_cny",
                  "phone_activation_days": "phone_activation_days", "province": "province",
                  "driver_certified": "driver_certified", "term_months": "term_months",
                  "payment_years": "payment_years", "cover_to": "cover_to"}
SLOT_TO_PARSED = {v: k for k, v in PARSED_TO_SLOT.items()}

_CORRECTION_WORDS = re.compile(r"不对|不是|错了|说错|搞错|应该是")

# intents whose text must never be read as an answer (the rules route them: human, complaint, ...)
NEVER_EXTRACT_INTENTS = frozenset({"request_human", "complaint", "delete_my_data"})
# question intents: skipped when the text reads like a question (answered, then the form resumes)
QUESTION_INTENTS = frozenset({"ask_question", "ask_exclusions", "out_of_scope", "bot_challenge"})


def plan(product: Optional[Product]) -> list[str]:
    """The slots to fill for `product`, in the order they are asked."""
    if product is None:
        return ["quote_product"]
    slots = ["quote_product"]
    if product.age.subject == "insured":
        slots.append("insured_relation")
    slots.append("insured_age")
    if product.refused_occupation_classes:
        slots.append("occupation_class")
    if product.max_phone_age_days is not None:
        slots += ["phone_price_cny", "phone_activation_days"]
    if product.sale_regions:
        slots.append("province")
    if product.requires_driver_certification:
        slots.append("driver_certified")
    if len(product.coverage_options) > 1:
        slots.append("coverage_cny")
    if len(product.cover_to_options) > 1:
        slots.append("cover_to")
    if len(product.payment_years_options) > 1:
        slots.append("payment_years")
    if len(product.term_months_options) > 1:
        slots.append("term_months")
    if len(product.payment_modes) > 1:
        slots.append("payment_mode")
    return slots


def _int(value: Any) -> Optional[int]:
    try:
        return int(float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def applicant_from_slots(slots: Mapping[str, Any]) -> Applicant:
    return Applicant(age_years=_int(slots.get("insured_age")), age_days=_int(slots.get("insured_age_days")),
                     relation=slots.get("insured_relation"), occupation_class=_int(slots.get("occupation_class")),
                     phone_price_cny=slots.get("phone_price_cny"),
                     activation_days=_int(slots.get("phone_activation_days")),
                     province=slots.get("province"), driver_certified=slots.get("driver_certified"))


def request_from_slots(slots: Mapping[str, Any]) -> QuoteRequest:
    """The quote request the filled form stands for (products' unused slots are left out)."""
    who = applicant_from_slots(slots)
    return QuoteRequest(
        product_id=slots.get("quote_product") or "", age=who.age_years, age_days=who.age_days,
        coverage=_int(slots.get("coverage_cny")), payment_mode=slots.get("payment_mode"),
        occupation_class=who.occupation_class, phone_price_cny=who.phone_price_cny,
        activation_days=who.activation_days, province=who.province, driver_certified=who.driver_certified,
        term_months=_int(slots.get("term_months")), payment_years=_int(slots.get("payment_years")),
        cover_to=slots.get("cover_to"), relation=who.relation)


def required_slots(catalogue: Catalogue, slots: Mapping[str, Any], today: dt.date) -> list[str]:
    """Dynamic required slots. Once the known facts already fail the product's rules, nothing more
    is asked: the form ends and action_fetch_quote explains the refusal."""
    product_id = slots.get("quote_product")
    product = catalogue.get(product_id) if product_id in catalogue else None
    needed = plan(product)
    if product is not None and check_eligibility(product, applicant_from_slots(slots), today, partial=True):
        return [s for s in needed if slots.get(s) is not None]
    return needed


@dataclass
class Interpretation:
    updates: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    abandon: bool = False
    evidence: Optional[dict[str, str]] = None   # the new quote_evidence slot, when this message changed it


def _describe(slot: str, value: Any, catalogue: Catalogue) -> str:
    if slot == "quote_product":
        return catalogue.get(value).short_name if value in catalogue else str(value)
    if slot == "insured_relation":
        return f"为{RELATION_LABELS.get(value, value)}投保"
    if slot == "insured_age":
        return f"{value}周岁"
    if slot == "coverage_cny":
        return f"保额{format_cny(value)}"
    if slot == "payment_mode":
        return PAYMENT_MODE_LABELS.get(value, value)
    if slot == "occupation_class":
        return f"职业类别{value}类"
    if slot == "cover_to":
        return COVER_TO_LABELS.get(value, value)
    if slot == "payment_years":
        return f"{value}年交"
    if slot == "term_months":
        return f"保障{value}个月"
    if slot == "phone_price_cny":
        return f"手机价格{value:g}元"
    if slot == "phone_activation_days":
        return f"激活{value}天"
    if slot == "driver_certified":
        return "已认证" if value else "未认证"
    return str(value)


def _correction_target(old: str, slots: Mapping[str, Any], requested: Optional[str], today: dt.date,
                       aliases: Mapping[str, Sequence[str]]) -> Optional[str]:
    """Which slot '不是<old>' refers to: the slot <old> parses into, or whose value it equals."""
    found = parse_quote_text(old, today=today, product_aliases=aliases, product=slots.get("quote_product")).found()
    for name in ("relation", "product", "age", "coverage_cny", "payment_mode", "occupation_class", "province"):
        if name in found:
            return PARSED_TO_SLOT[name]
    try:
        number = float(cn_numerals_to_digits(old).rstrip("岁万元块类年了"))
    except ValueError:
        return requested
    for slot in ("insured_age", "occupation_class", "payment_years", "term_months", "phone_price_cny",
                 "phone_activation_days"):
        if slots.get(slot) is not None and float(slots[slot]) == number:
            return slot
    if slots.get("coverage_cny") is not None and float(slots["coverage_cny"]) in (number, number * 10000):
        return "coverage_cny"
    return requested


def interpret(text: str, *, slots: Mapping[str, Any], catalogue: Catalogue, aliases: Mapping[str, Sequence[str]],
              today: dt.date, requested_slot: Optional[str], intent: Optional[str] = None,
              entities: Sequence[Mapping[str, Any]] = (), context_product: Optional[str] = None) -> Interpretation:
    """Slot updates for one user message (activation when requested_slot is None).

    Handles corrections ("不对 是60岁", "不是我妈 是我爸"), switching product, accepting an offered
    alternative ("好的"), a shared location (entity `province`) and abandoning ("算了 不买了").
    """
    result = Interpretation()
    activating = requested_slot is None
    product = slots.get("quote_product")
    if activating and _CORRECTION_WORDS.match(text.strip()):
        requested_slot = "insured_age"   # "不对 是60" right after a quote: a bare number is the age
    correction = split_correction(text)
    if correction:
        target = _correction_target(correction[0], slots, requested_slot, today, aliases)
        parsed = parse_quote_text(correction[1], today=today, product_aliases=aliases, requested_slot=target,
                                  product=product)
    else:
        parsed = parse_quote_text(text, today=today, product_aliases=aliases, requested_slot=requested_slot,
                                  product=product)
    if parsed.abandon:
        result.abandon = True
        return result

    found = parsed.found()
    for entity in entities:
        if entity.get("entity") == "province" and entity.get("value"):
            province = normalize_province(str(entity["value"]))
            if province:
                found["province"] = province
    new = {PARSED_TO_SLOT[k]: v for k, v in found.items()}
    if "insured_age" in new:
        new["insured_age_days"] = found.get("age_days")

    # which product: named now > accepted alternative > the product the conversation is about
    if "quote_product" not in new and activating:
        alternative = slots.get("quote_alternative")
        if intent == "affirm" and alternative in catalogue:
            new["quote_product"] = alternative
        elif intent == "affirm" and slots.get("province") and "typhoon" in catalogue and not product:
            new["quote_product"] = "typhoon"   # "好的" to the offer after a shared location
        elif context_product in catalogue and context_product != product:
            new["quote_product"] = context_product
    if activating or "quote_product" in new:
        new["quote_alternative"] = None
    new_product = new.get("quote_product")
    if new_product and product and new_product != product:
        for slot in PRODUCT_CHOICE_SLOTS:
            new.setdefault(slot, None)
    relation = new.get("insured_relation")
    if relation and slots.get("insured_relation") and relation != slots.get("insured_relation"):
        for slot in PERSON_SLOTS:
            new.setdefault(slot, None)

    for slot, value in new.items():
        old = slots.get(slot)
        if value == old or (value is None and old is None):
            continue
        result.updates[slot] = value
        if old is not None and value is not None and slot in FORM_SLOTS:
            result.notes.append(f"好的，已改为：{_describe(slot, value, catalogue)}")
    evidence = _evidence(slots.get("quote_evidence"), result.updates, parsed.evidence)
    if evidence != (slots.get("quote_evidence") or {}):
        result.evidence = evidence
    if parsed.occupation_word and "occupation_class" in result.updates:
        result.notes.append(f"已按「{parsed.occupation_word}」计为职业类别{parsed.occupation_class}类")
    return result


def _evidence(current: Any, updates: Mapping[str, Any], words: Mapping[str, str]) -> dict[str, str]:
    """{slot: the user's words it was read from} after this message: the proof of what was understood."""
    evidence = dict(current) if isinstance(current, Mapping) else {}
    for slot, value in updates.items():
        if slot not in FORM_SLOTS and slot != "insured_age_days":
            continue
        if value is None:
            evidence.pop(slot, None)
        elif SLOT_TO_PARSED.get(slot) in words:
            evidence[slot] = words[SLOT_TO_PARSED[slot]]
    return evidence


def validate_slot(slot: str, value: Any, slots: Mapping[str, Any], catalogue: Catalogue
                  ) -> tuple[Any, Optional[str]]:
    """(value to keep or None, message to the user or None) for one extracted value."""
    if value is None:
        return None, None
    product_id = slots.get("quote_product")
    product = catalogue.get(product_id) if product_id in catalogue else None
    if slot == "quote_product":
        return (value, None) if value in catalogue else (None, question("quote_product", None))
    if slot == "insured_relation":
        return (value, None) if value in RELATION_LABELS else (None, question(slot, product))
    if slot == "insured_age":
        age = _int(value)
        if age is None or not 0 <= age <= 120:
            return None, "年龄好像不太对，请告诉我被保险人的周岁年龄～"
        if age == 0 and slots.get("insured_age_days") is None and product and product.age.min_days is not None:
            return None, f"宝宝出生多少天了？（{product.short_name}出生满{product.age.min_days}天即可投保）"
        return age, None
    if slot == "coverage_cny":
        amount = _int(value)
        if product is None or amount in product.coverage_options:
            return amount, None
        return None, f"{product.short_name}没有{format_cny(amount or 0)}这一档，可选：{product.describe_coverage_options()}"
    if slot == "payment_mode":
        if product is None or value in product.payment_modes:
            return value, None
        if len(product.payment_modes) == 1:
            return None, None  # nothing to choose: the only mode applies
        modes = "或".join(PAYMENT_MODE_LABELS[m] for m in product.payment_modes)
        return None, f"{product.short_name}支持{modes}，请选一种～"
    if slot == "occupation_class":
        number = _int(value)
        return (number, None) if number in range(1, 7) else (None, "职业类别是1-6类，请再告诉我一次～")
    if slot == "phone_price_cny":
        try:
            amount = float(value)
        except (TypeError, ValueError):
            amount = 0
        return (amount, None) if 0 < amount <= 200000 else (None, "手机价格好像不太对，请告诉我购买价格（元）～")
    if slot == "phone_activation_days":
        days = _int(value)
        return (days, None) if days is not None and 0 <= days <= 3650 else (None, question(slot, product))
    if slot == "province":
        province = normalize_province(str(value))
        return (province, None) if province else (None, "没认出是哪个省份，请告诉我所在城市或省份，比如“深圳”或“广东”～")
    if slot == "driver_certified":
        return (bool(value), None) if isinstance(value, bool) else (None, question(slot, product))
    if slot in ("term_months", "payment_years", "cover_to"):
        options = {"term_months": product.term_months_options if product else (),
                   "payment_years": product.payment_years_options if product else (),
                   "cover_to": product.cover_to_options if product else ()}[slot]
        value = _int(value) if slot != "cover_to" else value
        return (value, None) if not options or value in options else (None, question(slot, product))
    return value, None


PRODUCT_MENU = ("百万医疗险、综合意外险（月缴首月1元）、重大疾病保险、手机碎屏险、台风天气险、网约车司机专属意外险")


def question(slot: str, product: Optional[Product]) -> str:
    """The question the form asks for `slot` (product-aware: options come from products.yml)."""
    name = product.short_name if product else ""
    if slot == "quote_product":
        return f"请问想了解哪款产品的价格？可选：{PRODUCT_MENU}。"
    if slot == "insured_relation":
        return "请问是给谁投保呢？本人、配偶、子女还是父母？"
    if slot == "insured_age":
        if product and product.age.subject == "policyholder":
            return "请问投保人（机主）今年多大（周岁）？"
        return "请问被保险人今年多大（周岁）？也可以告诉我出生日期；宝宝可以说出生多少天。"
    if slot == "occupation_class":
        return "请问被保险人的职业是？比如程序员、快递员、外卖骑手，也可以直接说职业类别（1-6类）。"
    if slot == "phone_price_cny":
        return "手机的购买价格是多少元？"
    if slot == "phone_activation_days":
        return "手机是什么时候激活的？比如“上个月”“激活30天”或“2026年10月1日”。"
    if slot == "province":
        regions = "、".join(product.sale_regions) if product else ""
        return (f"请发送您的位置，或告诉我投保所在的城市/省份（{name}目前在{regions}销售）。" if regions
                else "请告诉我投保所在的城市或省份。")
    if slot == "driver_certified":
        return "请问是否已完成网约车平台司机认证（持有网络预约出租汽车驾驶员证）？"
    if slot == "coverage_cny":
        options = product.describe_coverage_options() if product else ""
        label = "意外身故/伤残保额" if product and product.kind == "short_term_accident" else "保额"
        return f"{label}想选多少？可选：{options}。"
    if slot == "cover_to":
        return "保障期限选“保至70周岁”还是“保终身”？"
    if slot == "payment_years":
        years = "、".join(f"{y}年" for y in product.payment_years_options) if product else "10年、20年、30年"
        return f"缴费年限选多久？可选：{years}。"
    if slot == "term_months":
        months = "还是".join(f"{m}个月" for m in product.term_months_options) if product else "1个月还是3个月"
        return f"保障期选{months}？"
    if slot == "payment_mode":
        if product and set(product.payment_modes) == {"daily", "monthly"}:
            return "按天买（保障1天）还是按月买（保障1个月）？"
        promo = (f"月缴版首月{product.first_month_promo_cny}元，次月起按月缴正常保费扣费。"
                 if product and product.first_month_promo_cny is not None else "")
        return f"缴费方式选年缴还是月缴？{promo}"
    return "请再告诉我一下～"
