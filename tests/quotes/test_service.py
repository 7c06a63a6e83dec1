"""QuoteService: ids, validity, versions, refusals without prices, input errors, the injected clock."""
import datetime as dt
import re

import pytest

from quotes.service import CN_TZ, QuoteInputError, QuoteRequest, QuoteService, new_quote_id
from tests.quotes.conftest import SUMMER, WINTER


def test_quote_carries_id_validity_versions_and_compliance_facts(service):
    result = service.quote(QuoteRequest("medical_million", age=35, payment_mode="annual"))
    assert result.eligible and re.fullmatch(r"Q20260715[0-9A-F]{8}", result.quote_id)
    assert result.valid_until - result.quoted_at == dt.timedelta(hours=24)
    assert result.rate_version == "2026.1-r1" and result.clause.version == "2026.1"
    assert result.clause.exclusions_citation.startswith("《百万医疗险条款》") and result.waiting_period_days == 30
    assert result.facts["today"] == "2026-07-15"


def test_quote_ids_are_unique():
    now = dt.datetime(2026, 7, 15, tzinfo=CN_TZ)
    assert len({new_quote_id(now) for _ in range(2000)}) == 2000


def test_the_clock_decides_the_typhoon_window(service, clock):
    req = QuoteRequest("typhoon", age=30, province="广东")
    assert service.quote(req).eligible
    clock.now = WINTER
    refused = service.quote(req)
    assert not refused.eligible and refused.refusal.code == "outside_sale_window" and refused.price is None
    clock.now = SUMMER


def test_refusal_has_a_reason_an_alternative_and_no_price(service):
    result = service.quote(QuoteRequest("critical_illness", age=58, coverage=100000, payment_mode="annual"))
    assert not result.eligible and result.price is None and "55周岁" in result.reason
    assert result.alternative.id == "medical_million"
    body = result.to_api()
    assert body["premium_cny"] is None and body["alternative_product_id"] == "medical_million"


def test_partial_refuses_on_known_facts_and_asks_for_the_rest(service):
    refused = service.quote(QuoteRequest("accident", age=70), partial=True)
    assert not refused.eligible and refused.refusal.code == "too_old"
    with pytest.raises(QuoteInputError) as exc:
        service.quote(QuoteRequest("accident", age=30, occupation_class=1), partial=True)
    assert exc.value.field == "coverage"


def test_defaults_only_where_the_product_has_one_option(service):
    screen = service.quote(QuoteRequest("screen", age=30, phone_price_cny=2999, activation_days=3))
    assert screen.payment_mode == "annual" and screen.premium == 69
    ci = service.quote(QuoteRequest("critical_illness", age=30, coverage=100000, payment_mode="annual"))
    assert ci.facts["payment_years"] == 20 and ci.facts["cover_to"] == "lifetime"
    typhoon = service.quote(QuoteRequest("typhoon", age=30, province="浙江"))
    assert typhoon.facts["term_months"] == 1 and str(typhoon.premium) == "9.90"


def test_show_records_the_display_before_returning_the_message(service, recorder):
    result = service.show(service.quote(QuoteRequest("accident", age=30, coverage=100000, payment_mode="monthly",
                                                     occupation_class=1)), user_id="oUser-0001-abcdef", channel="wechat")
    [record] = recorder.for_quote(result.quote_id)
    assert record["message"] == result.message and "次月起每月" in record["message"]
    assert record["rate_version"] == "2026.1-r1" and record["clause_version"] == "2026.1"
    assert record["eligible"] is True and float(record["premium_cny"]) == float(result.premium)


def test_without_a_database_nothing_is_shown(service, tmp_path):
    from quotes.audit import DisplayNotRecorded, DisplayRecorder
    from storage.db import get_engine

    service.recorder = DisplayRecorder(get_engine(f"sqlite:///{tmp_path}"))  # a directory: cannot be opened
    with pytest.raises(DisplayNotRecorded):
        service.show(service.quote(QuoteRequest("medical_million", age=35, payment_mode="annual")),
                     user_id="u", channel="test")


def test_service_refuses_incomplete_content(catalogue, rate_tables, clause_facts):
    tables = dict(rate_tables)
    tables.pop("screen")
    with pytest.raises(ValueError, match="screen"):
        QuoteService(catalogue, tables, clause_facts)


def test_the_record_keeps_the_words_each_fact_was_read_from(service, recorder):
    import json

    result = service.show(service.quote(QuoteRequest("screen", age=28, phone_price_cny=5999, activation_days=7)),
                          user_id="oUser-0002-abcdef", channel="wechat",
                          understood_from={"phone_activation_days": "上周", "insured_age": "我28"})
    [record] = recorder.for_quote(result.quote_id)
    facts = json.loads(record["facts"]) if isinstance(record["facts"], str) else record["facts"]
    assert facts["activation_days"] == 7 and facts["understood_from"]["phone_activation_days"] == "上周"
