"""Product facts from the insurer's sheet (products.yml) as typed objects.

products.yml is the single source of truth for who may buy what; some rules are written as prose
there (e.g. "手机激活后180天内投保"), so they are parsed here once, strictly: a sheet edit that
breaks a rule's wording raises CatalogueError instead of silently dropping the rule.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

HEALTH_KINDS = frozenset({"short_term_health", "long_term_health"})
RELATIONS = ("self", "spouse", "child", "parent")
RELATION_LABELS = {"self": "本人", "spouse": "配偶", "child": "子女", "parent": "父母", "other": "其他"}
PAYMENT_MODE_LABELS = {"annual": "年缴", "monthly": "月缴", "daily": "按天"}
COVER_TO_LABELS = {"lifetime": "保终身", "age70": "保至70周岁"}


class CatalogueError(ValueError):
    """products.yml lacks or garbles a fact the quote service depends on."""


@dataclass(frozen=True)
class AgeRule:
    """Age limits of the person whose age decides eligibility (insured, or policyholder for screen)."""

    min_days: Optional[int] = None
    min_years: Optional[int] = None
    max_years: Optional[int] = None
    subject: str = "insured"  # insured | policyholder

    def describe(self) -> str:
        low = f"出生满{self.min_days}天" if self.min_days is not None else f"{self.min_years or 0}周岁"
        if self.max_years is None:
            return f"{low}及以上"
        return f"{low}至{self.max_years}周岁（含）"


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    kind: str
    age: AgeRule
    payment_modes: tuple[str, ...]
    waiting_period_days: int
    coverage_options: tuple[int, ...] = ()
    sale_regions: tuple[str, ...] = ()
    refused_occupation_classes: frozenset[int] = frozenset()
    max_phone_age_days: Optional[int] = None
    requires_driver_certification: bool = False
    sale_window: Optional[tuple[tuple[int, int], tuple[int, int]]] = None  # ((month, day), (month, day))
    term_months_options: tuple[int, ...] = ()
    payment_years_options: tuple[int, ...] = ()
    cover_to_options: tuple[str, ...] = ()
    first_month_promo_cny: Optional[int] = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def short_name(self) -> str:
        """'百万医疗险（普惠住院医疗）' -> '百万医疗险' for chat messages."""
        return re.split(r"[（(]", self.name, maxsplit=1)[0].strip()

    @property
    def is_health(self) -> bool:
        return self.kind in HEALTH_KINDS

    @property
    def default_coverage(self) -> Optional[int]:
        return self.coverage_options[0] if len(self.coverage_options) == 1 else None

    @property
    def default_payment_mode(self) -> Optional[str]:
        return self.payment_modes[0] if len(self.payment_modes) == 1 else None

    def describe_coverage_options(self) -> str:
        opts = self.coverage_options
        if len(opts) > 4 and all(b - a == opts[1] - opts[0] for a, b in zip(opts, opts[1:])):
            return f"{format_cny(opts[0])}-{format_cny(opts[-1])}（按{format_cny(opts[1] - opts[0])}递增）"
        return " / ".join(format_cny(o) for o in opts)


def format_cny(amount: float) -> str:
    """3000000 -> '300万', 100000 -> '10万', 2500 -> '2500元'."""
    if amount >= 10000 and amount % 10000 == 0:
        return f"{int(amount // 10000)}万"
    if amount >= 10000 and amount % 1000 == 0:
        return f"{amount / 10000:g}万"
    return f"{amount:g}元"


@dataclass(frozen=True)
class Catalogue:
    products: Mapping[str, Product]

    def get(self, product_id: str) -> Product:
        try:
            return self.products[product_id]
        except KeyError:
            raise KeyError(f"unknown product '{product_id}'; known: {', '.join(self.products)}") from None

    def __contains__(self, product_id: object) -> bool:
        return product_id in self.products

    def ids(self) -> list[str]:
        return list(self.products)


def _need(entry: Mapping[str, Any], key: str) -> Any:
    if key not in entry or entry[key] in (None, ""):
        raise CatalogueError(f"product '{entry.get('id')}': missing '{key}'")
    return entry[key]


def _age_rule(entry: Mapping[str, Any]) -> AgeRule:
    if "insured_age" in entry:
        raw, subject = entry["insured_age"], "insured"
    elif "policyholder_age" in entry:
        raw, subject = entry["policyholder_age"], "policyholder"
    else:
        raise CatalogueError(f"product '{entry.get('id')}': no insured_age or policyholder_age")
    rule = AgeRule(raw.get("min_days"), raw.get("min_years"), raw.get("max_years"), subject)
    if rule.min_days is None and rule.min_years is None:
        raise CatalogueError(f"product '{entry.get('id')}': age rule needs min_days or min_years")
    return rule


def _coverage_options(entry: Mapping[str, Any]) -> tuple[int, ...]:
    if "sum_insured_cny_options" in entry:
        return tuple(int(v) for v in entry["sum_insured_cny_options"])
    si = entry.get("sum_insured_cny")
    if isinstance(si, Mapping) and {"min", "max", "step"} <= set(si):
        return tuple(range(int(si["min"]), int(si["max"]) + 1, int(si["step"])))
    if isinstance(si, Mapping) and "general" in si:
        return (int(si["general"]),)
    covers = str(entry.get("covers", ""))
    m = re.search(r"意外身故/伤残(\d+)万元", covers)
    if m:
        return (int(m.group(1)) * 10000,)
    return ()


def _refused_occupations(entry: Mapping[str, Any]) -> frozenset[int]:
    text = str(entry.get("occupations", ""))
    if "不可投保" not in text:
        return frozenset()
    m = re.search(r"(\d)\s*-\s*(\d)\s*类[^；;]*不可投保", text)
    if not m:
        raise CatalogueError(f"product '{entry['id']}': cannot read refused occupation classes from '{text}'")
    return frozenset(range(int(m.group(1)), int(m.group(2)) + 1))


def _max_phone_age(entry: Mapping[str, Any]) -> Optional[int]:
    text = str(entry.get("eligibility", ""))
    if "激活" not in text:
        return None
    m = re.search(r"激活后(\d+)天内", text)
    if not m:
        raise CatalogueError(f"product '{entry['id']}': cannot read the activation limit from '{text}'")
    return int(m.group(1))


def _sale_window(entry: Mapping[str, Any]) -> Optional[tuple[tuple[int, int], tuple[int, int]]]:
    m = re.search(r"(\d{1,2})月(\d{1,2})日至(\d{1,2})月(\d{1,2})日投保", str(entry.get("term", "")))
    if not m:
        return None
    a, b, c, d = (int(g) for g in m.groups())
    return (a, b), (c, d)


def _term_months(entry: Mapping[str, Any]) -> tuple[int, ...]:
    if entry.get("kind") != "parametric_weather":
        return ()
    months = tuple(int(m) for m in re.findall(r"(\d+)个月", str(entry.get("term", ""))))
    if not months:
        raise CatalogueError(f"product '{entry['id']}': cannot read the cover terms from '{entry.get('term')}'")
    return months


def _cover_to(entry: Mapping[str, Any]) -> tuple[str, ...]:
    term = str(entry.get("term", ""))
    options = []
    if re.search(r"保至70周岁", term):
        options.append("age70")
    if "终身" in term:
        options.append("lifetime")
    return tuple(options)


def _promo(entry: Mapping[str, Any]) -> Optional[int]:
    m = re.search(r"首月(\d+)元", str(entry.get("first_month_promo", "")))
    return int(m.group(1)) if m else None


def product_from_entry(entry: Mapping[str, Any]) -> Product:
    modes = tuple(_need(entry, "payment_modes"))
    unknown = set(modes) - set(PAYMENT_MODE_LABELS)
    if unknown:
        raise CatalogueError(f"product '{entry.get('id')}': unknown payment modes {sorted(unknown)}")
    return Product(
        id=str(_need(entry, "id")),
        name=str(_need(entry, "name")),
        kind=str(_need(entry, "kind")),
        age=_age_rule(entry),
        payment_modes=modes,
        waiting_period_days=int(_need(entry, "waiting_period_days")),
        coverage_options=_coverage_options(entry),
        sale_regions=tuple(entry.get("sale_regions") or ()),
        refused_occupation_classes=_refused_occupations(entry),
        max_phone_age_days=_max_phone_age(entry),
        requires_driver_certification="司机认证" in str(entry.get("eligibility", "")),
        sale_window=_sale_window(entry),
        term_months_options=_term_months(entry),
        payment_years_options=tuple(int(y) for y in entry.get("payment_years_options") or ()),
        cover_to_options=_cover_to(entry),
        first_month_promo_cny=_promo(entry),
        raw=dict(entry),
    )


def load_catalogue(products_path: Path) -> Catalogue:
    """Read products.yml; raises CatalogueError naming the product and the fact that is wrong."""
    data = yaml.safe_load(Path(products_path).read_text(encoding="utf-8")) or {}
    entries = data.get("products")
    if not entries:
        raise CatalogueError(f"{products_path}: no 'products' list")
    products = {}
    for entry in entries:
        product = product_from_entry(entry)
        products[product.id] = product
    return Catalogue(products)
