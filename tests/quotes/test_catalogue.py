"""The product rules the quote service reads from products.yml (some are prose there)."""
import pytest

from quotes.catalogue import CatalogueError, format_cny, load_catalogue, product_from_entry


def test_every_product_rule_is_read(catalogue):
    med = catalogue.get("medical_million")
    assert (med.age.min_days, med.age.max_years, med.coverage_options) == (28, 65, (3000000,))
    assert med.payment_modes == ("annual", "monthly") and med.waiting_period_days == 30 and med.is_health
    acc = catalogue.get("accident")
    assert acc.refused_occupation_classes == {5, 6} and acc.first_month_promo_cny == 1
    assert acc.coverage_options == (100000, 500000, 1000000) and (acc.age.min_years, acc.age.max_years) == (18, 65)
    ci = catalogue.get("critical_illness")
    assert ci.coverage_options[0] == 100000 and ci.coverage_options[-1] == 500000 and len(ci.coverage_options) == 9
    assert ci.payment_years_options == (10, 20, 30) and set(ci.cover_to_options) == {"age70", "lifetime"}
    screen = catalogue.get("screen")
    assert screen.max_phone_age_days == 180 and screen.age.subject == "policyholder" and screen.age.max_years is None
    typhoon = catalogue.get("typhoon")
    assert typhoon.sale_window == ((6, 1), (10, 31)) and typhoon.term_months_options == (1, 3)
    assert set(typhoon.sale_regions) == {"广东", "福建", "浙江", "海南", "广西", "上海"}
    driver = catalogue.get("driver_accident")
    assert driver.requires_driver_certification and driver.payment_modes == ("daily", "monthly")
    assert driver.coverage_options == (500000,) and driver.age.max_years == 60


def test_a_garbled_rule_fails_loudly(catalogue):
    entry = dict(catalogue.get("accident").raw, occupations="高危职业不可投保")
    with pytest.raises(CatalogueError, match="occupation"):
        product_from_entry(entry)
    entry = dict(catalogue.get("screen").raw, eligibility="手机激活后半年内投保")
    with pytest.raises(CatalogueError, match="activation"):
        product_from_entry(entry)


def test_missing_products_list(tmp_path):
    path = tmp_path / "products.yml"
    path.write_text("service: {}\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="no 'products'"):
        load_catalogue(path)


@pytest.mark.parametrize("amount,text", [(3000000, "300万"), (100000, "10万"), (2500, "2500元"), (15000, "1.5万")])
def test_format_cny(amount, text):
    assert format_cny(amount) == text
