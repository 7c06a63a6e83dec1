"""Suitability boundaries for every product, straight from products.yml (65 vs 66, 28 days, ...)."""
import datetime as dt

import pytest

from quotes.eligibility import Applicant, MissingFact, check_eligibility, suggest_alternative

JULY = dt.date(2026, 7, 15)

# full facts that pass for each product; each case below changes one fact
BASE = {
    "medical_million": dict(age_years=35),
    "accident": dict(age_years=35, occupation_class=1),
    "critical_illness": dict(age_years=35),
    "screen": dict(age_years=30, phone_price_cny=3999, activation_days=30),
    "typhoon": dict(age_years=30, province="广东"),
    "driver_accident": dict(age_years=40, driver_certified=True),
}

CASES = [
    # product, changed facts, expected refusal code (None: eligible)
    ("medical_million", dict(age_years=None, age_days=28), None),
    ("medical_million", dict(age_years=None, age_days=27), "too_young"),
    ("medical_million", dict(age_years=0, age_days=28), None),
    ("medical_million", dict(age_years=0, age_days=10), "too_young"),
    ("medical_million", dict(age_years=65), None),
    ("medical_million", dict(age_years=66), "too_old"),
    ("critical_illness", dict(age_years=None, age_days=28), None),
    ("critical_illness", dict(age_years=None, age_days=27), "too_young"),
    ("critical_illness", dict(age_years=55), None),
    ("critical_illness", dict(age_years=56), "too_old"),
    ("accident", dict(age_years=17), "too_young"),
    ("accident", dict(age_years=18), None),
    ("accident", dict(age_years=65), None),
    ("accident", dict(age_years=66), "too_old"),
    ("accident", dict(occupation_class=4), None),
    ("accident", dict(occupation_class=5), "occupation"),
    ("accident", dict(occupation_class=6), "occupation"),
    ("screen", dict(age_years=17), "too_young"),
    ("screen", dict(age_years=18), None),
    ("screen", dict(age_years=90), None),
    ("screen", dict(activation_days=180), None),
    ("screen", dict(activation_days=181), "phone_too_old"),
    ("screen", dict(activation_days=0), None),
    ("typhoon", dict(age_years=17), "too_young"),
    ("typhoon", dict(age_years=18), None),
    ("typhoon", dict(age_years=70), None),
    ("typhoon", dict(age_years=71), "too_old"),
    ("typhoon", dict(province="海南"), None),
    ("typhoon", dict(province="上海"), None),
    ("typhoon", dict(province="湖南"), "region"),
    ("typhoon", dict(province="北京"), "region"),
    ("driver_accident", dict(age_years=17), "too_young"),
    ("driver_accident", dict(age_years=18), None),
    ("driver_accident", dict(age_years=60), None),
    ("driver_accident", dict(age_years=61), "too_old"),
    ("driver_accident", dict(driver_certified=False), "no_driver_certification"),
    ("medical_million", dict(relation="parent"), None),
    ("medical_million", dict(relation="other"), "relation"),
]


@pytest.mark.parametrize("product_id,change,code", CASES)
def test_boundaries(catalogue, product_id, change, code):
    refusal = check_eligibility(catalogue.get(product_id), Applicant(**{**BASE[product_id], **change}), JULY)
    assert (refusal.code if refusal else None) == code
    if refusal:
        assert refusal.reason and any("\u4e00" <= ch <= "\u9fff" for ch in refusal.reason)


@pytest.mark.parametrize("day,open_", [((5, 31), False), ((6, 1), True), ((10, 31), True), ((11, 1), False),
                                       ((1, 15), False), ((8, 8), True)])
def test_typhoon_sale_window_uses_the_injected_day(catalogue, day, open_):
    refusal = check_eligibility(catalogue.get("typhoon"), Applicant(**BASE["typhoon"]), dt.date(2026, *day))
    assert (refusal is None) == open_
    if not open_:
        assert refusal.code == "outside_sale_window" and "6月1日至10月31日" in refusal.reason


def test_reasons_name_the_limit(catalogue):
    too_old = check_eligibility(catalogue.get("medical_million"), Applicant(age_years=66), JULY)
    assert "65周岁" in too_old.reason and "66周岁" in too_old.reason
    baby = check_eligibility(catalogue.get("medical_million"), Applicant(age_days=20), JULY)
    assert "28天" in baby.reason and "20天" in baby.reason
    occupation = check_eligibility(catalogue.get("accident"), Applicant(age_years=30, occupation_class=5), JULY)
    assert "5类" in occupation.reason and "1-4类" in occupation.reason


def test_full_check_needs_every_fact(catalogue):
    with pytest.raises(MissingFact) as exc:
        check_eligibility(catalogue.get("accident"), Applicant(age_years=30), JULY)
    assert exc.value.field == "occupation_class"
    with pytest.raises(MissingFact) as exc:
        check_eligibility(catalogue.get("medical_million"), Applicant(age_years=0), JULY)
    assert exc.value.field == "age_days"
    with pytest.raises(MissingFact) as exc:
        check_eligibility(catalogue.get("screen"), Applicant(age_years=30, phone_price_cny=3000), JULY)
    assert exc.value.field == "activation_days"
    # partial: unknown facts are not held against the person, known ones are
    assert check_eligibility(catalogue.get("accident"), Applicant(age_years=30), JULY, partial=True) is None
    assert check_eligibility(catalogue.get("accident"), Applicant(occupation_class=6), JULY, partial=True).code == "occupation"


@pytest.mark.parametrize("product_id,facts,alternative", [
    ("critical_illness", dict(age_years=58), "medical_million"),
    ("critical_illness", dict(age_years=66), None),
    ("accident", dict(age_years=35, occupation_class=5), "medical_million"),
    ("accident", dict(age_years=10), "medical_million"),
    ("accident", dict(age_years=70), None),
    ("driver_accident", dict(age_years=40, driver_certified=False), "accident"),
    ("driver_accident", dict(age_years=62, driver_certified=True), "accident"),
    ("driver_accident", dict(age_years=66, driver_certified=True), None),
    ("medical_million", dict(age_years=70), None),
    ("screen", dict(age_years=30, activation_days=200), None),
    ("typhoon", dict(age_years=30, province="湖南"), None),
    ("medical_million", dict(age_years=30, relation="other"), None),
])
def test_alternatives_only_where_the_person_fits(catalogue, product_id, facts, alternative):
    who = Applicant(**facts)
    product = catalogue.get(product_id)
    assert check_eligibility(product, who, JULY, partial=True) is not None
    alt = suggest_alternative(catalogue, product, who, JULY)
    assert (alt.id if alt else None) == alternative
    if alt:
        assert check_eligibility(alt, who, JULY, partial=True) is None
