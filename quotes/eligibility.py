"""Suitability: may this person buy this product today? A refusal always says why.

Rules come from products.yml (catalogue.Product): ages (incl. the 28-day minimum via age in days),
sale regions, refused occupation classes, phone age, driver certification and the typhoon sale
window. `partial=True` checks only the facts known so far, so a conversation can refuse early
(before asking for a payment mode of a product the person cannot buy).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

from quotes.catalogue import RELATIONS, Catalogue, Product

# Products worth suggesting when one is refused, in order of preference; each suggestion is only
# made if the same person passes its rules too (checked, not assumed).
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "critical_illness": ("medical_million",),   # too old for 重疾 (56-65): 百万医疗 still covers hospital bills
    "driver_accident": ("accident",),           # not certified / over 60: the general accident cover
    "accident": ("medical_million",),           # class 5-6 or under 18: 百万医疗 has no occupation limit
    "medical_million": (),
    "screen": (),
    "typhoon": (),
}

DAYS_PER_YEAR = 365.25


class MissingFact(ValueError):
    """A fact the full check needs is absent; `field` names it (the API turns this into a 422)."""

    def __init__(self, field: str, reason: str):
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class Applicant:
    """What we know about the person (and phone/location) a quote is for."""

    age_years: Optional[int] = None
    age_days: Optional[int] = None
    relation: Optional[str] = None  # self | spouse | child | parent | other
    occupation_class: Optional[int] = None
    phone_price_cny: Optional[float] = None
    activation_days: Optional[int] = None
    province: Optional[str] = None
    driver_certified: Optional[bool] = None

    @property
    def years(self) -> Optional[int]:
        """Completed years: the stated age, else derived from the age in days."""
        if self.age_years is not None:
            return self.age_years
        if self.age_days is not None:
            return int(self.age_days // DAYS_PER_YEAR)
        return None


@dataclass(frozen=True)
class Refusal:
    code: str    # machine-readable: outside_sale_window, relation, too_young, too_old, occupation, region, ...
    field: str   # the request field the refusal is about
    reason: str  # shown to the user, Simplified Chinese


def in_sale_window(product: Product, today: dt.date) -> bool:
    if product.sale_window is None:
        return True
    (m1, d1), (m2, d2) = product.sale_window
    return (m1, d1) <= (today.month, today.day) <= (m2, d2)


def _check_age(product: Product, who: Applicant, partial: bool) -> Optional[Refusal]:
    rule = product.age
    subject = "投保人" if rule.subject == "policyholder" else "被保险人"
    years = who.years
    if years is None:
        if partial:
            return None
        raise MissingFact("age", "age or age_days is required")
    if rule.max_years is not None and years > rule.max_years:
        return Refusal("too_old", "age", f"{product.short_name}的{subject}须为{rule.describe()}，"
                                         f"{years}周岁已超出投保年龄")
    if rule.min_years is not None and years < rule.min_years:
        return Refusal("too_young", "age", f"{product.short_name}的{subject}须为{rule.describe()}，"
                                           f"{years}周岁还不能投保")
    if rule.min_days is not None and years < 1:
        if who.age_days is None:
            if partial:
                return None
            raise MissingFact("age_days", f"under 1 year: age_days is needed (the minimum is {rule.min_days} days)")
        if who.age_days < rule.min_days:
            return Refusal("too_young", "age_days", f"{product.short_name}须{rule.describe()}，宝宝目前出生"
                                                    f"{who.age_days}天，满{rule.min_days}天后即可投保")
    return None


def check_eligibility(product: Product, who: Applicant, today: dt.date, *, partial: bool = False
                      ) -> Optional[Refusal]:
    """The first rule `who` fails for `product` today, or None.

    With partial=False every fact the product needs must be present (MissingFact otherwise).
    """
    if not in_sale_window(product, today):
        (m1, d1), (m2, d2) = product.sale_window  # type: ignore[misc]
        return Refusal("outside_sale_window", "product",
                       f"{product.short_name}每年{m1}月{d1}日至{m2}月{d2}日开放投保，"
                       f"今天（{today.month}月{today.day}日）不在投保期内")
    if who.relation is not None and who.relation not in RELATIONS and product.age.subject == "insured":
        return Refusal("relation", "relation", "线上只能为本人、配偶、子女或父母投保")
    refusal = _check_age(product, who, partial)
    if refusal:
        return refusal
    if product.refused_occupation_classes:
        if who.occupation_class is None:
            if not partial:
                raise MissingFact("occupation_class", f"required for {product.id} (1-6)")
        elif who.occupation_class in product.refused_occupation_classes:
            allowed = sorted(set(range(1, 7)) - product.refused_occupation_classes)
            return Refusal("occupation", "occupation_class",
                           f"职业类别{who.occupation_class}类属于高危职业，{product.short_name}仅承保"
                           f"{allowed[0]}-{allowed[-1]}类职业")
    if product.sale_regions:
        if who.province is None:
            if not partial:
                raise MissingFact("province", f"required for {product.id}: where the cover applies")
        elif who.province not in product.sale_regions:
            return Refusal("region", "province",
                           f"{product.short_name}目前只在{'、'.join(product.sale_regions)}销售，"
                           f"投保位置（{who.province}）暂不在销售区域内")
    if product.max_phone_age_days is not None:
        if who.phone_price_cny is None and not partial:
            raise MissingFact("phone_price_cny", f"required for {product.id}")
        if who.activation_days is None:
            if not partial:
                raise MissingFact("activation_days", f"required for {product.id}: days since the phone was activated")
        elif who.activation_days > product.max_phone_age_days:
            return Refusal("phone_too_old", "activation_days",
                           f"手机需在激活后{product.max_phone_age_days}天内投保，这部手机已激活约"
                           f"{who.activation_days}天")
    if product.requires_driver_certification:
        if who.driver_certified is None:
            if not partial:
                raise MissingFact("driver_certified", f"required for {product.id}")
        elif not who.driver_certified:
            return Refusal("no_driver_certification", "driver_certified",
                           f"{product.short_name}需先完成网约车平台司机认证（持有网络预约出租汽车驾驶员证）")
    return None


def suggest_alternative(catalogue: Catalogue, product: Product, who: Applicant, today: dt.date
                        ) -> Optional[Product]:
    """A product the same person can buy instead (facts it needs that we lack are not held against it)."""
    for alt_id in ALTERNATIVES.get(product.id, ()):
        if alt_id not in catalogue:
            continue
        alt = catalogue.get(alt_id)
        if check_eligibility(alt, who, today, partial=True) is None:
            return alt
    return None
