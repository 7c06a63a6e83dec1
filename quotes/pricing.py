"""Premium from a rate table: base row x product factors x payment mode, with an itemised breakdown.

Money is Decimal throughout. The premium for one base period is rounded half-up to the fen; each
instalment is rounded *up*, so instalments can never add up to less than paying at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any, Mapping, Optional

from quotes.catalogue import COVER_TO_LABELS, format_cny
from quotes.rates import RateTable

FEN = Decimal("0.01")
TEN_THOUSAND = Decimal(10000)

FACTOR_LABELS = {
    "occupation_class": lambda v: f"职业类别{v}类",
    "term_months": lambda v: f"保障{v}个月",
    "payment_years": lambda v: f"{v}年交",
    "cover_to": lambda v: COVER_TO_LABELS.get(v, str(v)),
}


class NoRate(LookupError):
    """The table has no row/factor/mode for these inputs (the request is outside what is priced)."""

    def __init__(self, field: str, reason: str):
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class BreakdownLine:
    item: str
    amount_cny: Optional[Decimal] = None
    factor: Optional[Decimal] = None
    kind: str = "base"  # base | factor | period | mode | promo

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.item, "kind": self.kind,
                "amount_cny": float(self.amount_cny) if self.amount_cny is not None else None,
                "factor": float(self.factor) if self.factor is not None else None}


@dataclass(frozen=True)
class Price:
    premium: Decimal                  # regular premium per payment (from the 2nd month for a promotion)
    payment_mode: str
    mode_label: str
    unit: str                         # 元/年, 元/月, 元/天, 元
    payments: int                     # payments per base period (12 for monthly)
    base_premium: Decimal             # premium for one base period after all factors
    base_period: str
    first_period_premium: Optional[Decimal]
    breakdown: tuple[BreakdownLine, ...]
    rate_version: str

    @property
    def total_for_base_period(self) -> Decimal:
        """What all payments of one base period add up to (promotion included)."""
        if self.first_period_premium is not None:
            return self.first_period_premium + self.premium * (self.payments - 1)
        return self.premium * self.payments


def price(table: RateTable, inputs: Mapping[str, Any], payment_mode: str) -> Price:
    """Price `inputs` (age, coverage, phone_price, province + factor values) with `table`."""
    row = table.find_row(inputs)
    if row is None:
        dim = next((d for d in table.dimensions if inputs.get(d) is None), table.dimensions[0] if table.dimensions else "")
        raise NoRate(dim, f"no rate in {table.source} (version {table.version}) for "
                          f"{ {d: inputs.get(d) for d in table.dimensions} }")
    lines: list[BreakdownLine] = []
    if table.basis == "per_10k":
        coverage = inputs.get("coverage")
        if not coverage:
            raise NoRate("coverage", "coverage is required for per_10k pricing")
        units = Decimal(coverage) / TEN_THOUSAND
        amount = row.premium * units
        lines.append(BreakdownLine(f"基础保费（{row.describe()}，每万元保额{row.premium:g}元×{units:g}万）",
                                   amount.quantize(FEN, ROUND_HALF_UP)))
    else:
        amount = row.premium
        lines.append(BreakdownLine(f"基础保费（{row.describe()}）", amount.quantize(FEN, ROUND_HALF_UP)))

    for name, table_factors in table.factors.items():
        value = inputs.get(name)
        if value not in table_factors:
            raise NoRate(name, f"{name}={value!r} is not priced (priced: {sorted(table_factors, key=str)})")
        factor = table_factors[value]
        amount = amount * factor
        if factor != 1:
            lines.append(BreakdownLine(f"{FACTOR_LABELS[name](value)}系数", None, factor, "factor"))

    base = amount.quantize(FEN, ROUND_HALF_UP)
    lines.append(BreakdownLine(f"{table.base_period}保费", base, None, "period"))

    mode = table.payment_modes.get(payment_mode)
    if mode is None:
        raise NoRate("payment_mode", f"{payment_mode!r} is not offered (offered: {sorted(table.payment_modes)})")
    premium = (base * mode.factor).quantize(FEN, ROUND_CEILING)
    if mode.factor != 1 or mode.periods != 1:
        lines.append(BreakdownLine(f"{mode.label}每期", premium, mode.factor, "mode"))
    if mode.first_period_premium is not None:
        lines.append(BreakdownLine(f"首月优惠价（次月起每月{premium}元）", mode.first_period_premium, None, "promo"))
    return Price(premium, payment_mode, mode.label, mode.unit, mode.periods, base, table.base_period,
                 mode.first_period_premium, tuple(lines), table.version)


def describe_inputs(inputs: Mapping[str, Any]) -> str:
    """Short human summary of the priced facts, for logs and breakdown headers."""
    parts = []
    if inputs.get("coverage"):
        parts.append(f"保额{format_cny(inputs['coverage'])}")
    for name, label in FACTOR_LABELS.items():
        if inputs.get(name) is not None:
            parts.append(label(inputs[name]))
    return "，".join(parts)
