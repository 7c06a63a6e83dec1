"""Pricing rules as properties (hypothesis) over every rate table, plus a few worked examples."""
import copy
from decimal import Decimal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quotes.pricing import price
from quotes.rates import parse_rate_table, validate_rate_table
from quotes.service import QuoteRequest
from tests.quotes.conftest import RATES_DIR

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def age_range(product):
    low = 0 if product.age.min_days is not None else product.age.min_years
    return low, product.age.max_years if product.age.max_years is not None else 100


@st.composite
def priced_inputs(draw, catalogue, rate_tables, product_id):
    product, table = catalogue.get(product_id), rate_tables[product_id]
    low, high = age_range(product)
    inputs = {"age": draw(st.integers(low, high))}
    if product.coverage_options:
        inputs["coverage"] = draw(st.sampled_from(product.coverage_options))
    if product.max_phone_age_days is not None:
        inputs["phone_price"] = draw(st.floats(1, 30000, allow_nan=False).map(lambda x: round(x, 2)))
    if product.sale_regions:
        inputs["province"] = draw(st.sampled_from(product.sale_regions))
    for name, values in table.factors.items():
        inputs[name] = draw(st.sampled_from(sorted(values, key=str)))
    return inputs


def test_worked_examples(rate_tables):
    med = price(rate_tables["medical_million"], {"age": 35, "coverage": 3000000}, "annual")
    assert med.premium == Decimal("296.00") and med.rate_version == rate_tables["medical_million"].version
    monthly = price(rate_tables["medical_million"], {"age": 35, "coverage": 3000000}, "monthly")
    assert monthly.premium == Decimal("26.64") and monthly.payments == 12
    acc = price(rate_tables["accident"], {"age": 35, "coverage": 500000, "occupation_class": 3}, "monthly")
    assert acc.base_premium == Decimal("193.20") and acc.premium == Decimal("17.78")
    assert acc.first_period_premium == Decimal("1") and acc.total_for_base_period == Decimal("196.58")
    ci = price(rate_tables["critical_illness"], {"age": 30, "coverage": 500000, "payment_years": 20,
                                                 "cover_to": "lifetime"}, "annual")
    assert ci.premium == Decimal("6100.00")
    assert [line.kind for line in acc.breakdown] == ["base", "factor", "period", "mode", "promo"]


@pytest.mark.parametrize("product_id", ["medical_million", "accident", "critical_illness"])
def test_monthly_times_twelve_never_below_annual(catalogue, rate_tables, product_id):
    @PROPS
    @given(priced_inputs(catalogue, rate_tables, product_id))
    def check(inputs):
        annual = price(rate_tables[product_id], inputs, "annual")
        monthly = price(rate_tables[product_id], inputs, "monthly")
        assert monthly.premium * 12 >= annual.premium
        assert monthly.total_for_base_period >= annual.premium  # promotion included
    check()


def test_first_month_promotion_states_the_regular_price(catalogue, rate_tables):
    @PROPS
    @given(priced_inputs(catalogue, rate_tables, "accident"))
    def check(inputs):
        monthly = price(rate_tables["accident"], inputs, "monthly")
        assert monthly.first_period_premium == 1
        assert monthly.premium > monthly.first_period_premium
        assert any(line.kind == "promo" and str(monthly.premium) in line.item for line in monthly.breakdown)
    check()


def test_thirty_days_never_below_a_month(catalogue, rate_tables):
    @PROPS
    @given(priced_inputs(catalogue, rate_tables, "driver_accident"))
    def check(inputs):
        assert price(rate_tables["driver_accident"], inputs, "daily").premium * 30 >= \
            price(rate_tables["driver_accident"], inputs, "monthly").premium
    check()


@pytest.mark.parametrize("product_id", ["medical_million", "critical_illness"])
def test_health_products_older_never_costs_less(catalogue, rate_tables, product_id):
    low, high = age_range(catalogue.get(product_id))

    @PROPS
    @given(priced_inputs(catalogue, rate_tables, product_id), st.integers(low, high),
           st.sampled_from(catalogue.get(product_id).payment_modes))
    def check(inputs, other_age, mode):
        younger, older = sorted([inputs["age"], other_age])
        assert price(rate_tables[product_id], {**inputs, "age": older}, mode).premium >= \
            price(rate_tables[product_id], {**inputs, "age": younger}, mode).premium
    check()


@pytest.mark.parametrize("product_id", ["accident", "critical_illness"])
def test_more_cover_never_costs_less(catalogue, rate_tables, product_id):
    options = catalogue.get(product_id).coverage_options

    @PROPS
    @given(priced_inputs(catalogue, rate_tables, product_id), st.sampled_from(options),
           st.sampled_from(catalogue.get(product_id).payment_modes))
    def check(inputs, other, mode):
        small, big = sorted([inputs["coverage"], other])
        assert price(rate_tables[product_id], {**inputs, "coverage": big}, mode).premium >= \
            price(rate_tables[product_id], {**inputs, "coverage": small}, mode).premium
    check()


@pytest.mark.parametrize("product_id", ["medical_million", "accident", "critical_illness", "screen", "typhoon",
                                        "driver_accident"])
def test_premiums_are_positive_fen_amounts(catalogue, rate_tables, product_id):
    @PROPS
    @given(priced_inputs(catalogue, rate_tables, product_id), st.sampled_from(catalogue.get(product_id).payment_modes))
    def check(inputs, mode):
        p = price(rate_tables[product_id], inputs, mode)
        assert p.premium > 0 and p.premium == p.premium.quantize(Decimal("0.01"))
        assert p.base_premium > 0
    check()


@PROPS
@given(st.decimals(min_value=Decimal("0.05"), max_value=Decimal("0.12"), places=4))
def test_validator_enforces_monthly_rule_exactly(catalogue, factor):
    data = yaml.safe_load((RATES_DIR / "medical_million.yml").read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["payment_modes"]["monthly"]["factor"] = float(factor)
    table = parse_rate_table(data, "medical_million.yml")
    problems = validate_rate_table(table, catalogue.get("medical_million"))
    assert (not problems) == (Decimal(str(float(factor))) * 12 >= 1)


@PROPS
@given(st.integers(66, 120), st.sampled_from(["annual", "monthly"]))
def test_no_price_for_anyone_ineligible(service, age, mode):
    result = service.quote(QuoteRequest("medical_million", age=age, payment_mode=mode))
    body = result.to_api()
    assert body["eligible"] is False and body["premium_cny"] is None and body["reason"]
    assert body["breakdown"] == [] and body["first_period_premium_cny"] is None
