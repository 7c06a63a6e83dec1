"""Every quote message shows the exclusions summary + citation and the waiting period; the 1元
promotion always states the price from the second month; a refusal never shows a price."""
import re

import pytest

from quotes.messages import render
from quotes.service import QuoteRequest

ELIGIBLE = [
    QuoteRequest("medical_million", age=35, payment_mode="annual", relation="self"),
    QuoteRequest("medical_million", age=58, payment_mode="monthly", relation="parent"),
    QuoteRequest("medical_million", age_days=40, payment_mode="annual", relation="child"),
    QuoteRequest("accident", age=35, coverage=500000, payment_mode="monthly", occupation_class=3, relation="spouse"),
    QuoteRequest("accident", age=60, coverage=1000000, payment_mode="annual", occupation_class=1),
    QuoteRequest("critical_illness", age=30, coverage=500000, payment_mode="annual", payment_years=30, cover_to="age70"),
    QuoteRequest("critical_illness", age=1, coverage=100000, payment_mode="monthly", relation="child"),
    QuoteRequest("screen", age=30, phone_price_cny=5999, activation_days=30),
    QuoteRequest("typhoon", age=30, province="深圳", term_months=3),
    QuoteRequest("driver_accident", age=45, driver_certified=True, payment_mode="daily"),
    QuoteRequest("driver_accident", age=25, driver_certified=True, payment_mode="monthly"),
]


@pytest.mark.parametrize("req", ELIGIBLE, ids=lambda r: f"{r.product_id}-{r.payment_mode}")
def test_quote_messages_carry_exclusions_citation_and_waiting_period(service, req):
    result = service.quote(req)
    message = render(result, service.catalogue)
    assert result.clause.exclusions_summary in message
    assert result.clause.exclusions_citation in message and "责任免除" in message
    days = result.waiting_period_days
    assert ("无等待期" in message) if days == 0 else (f"等待期：{days}天" in message)
    assert result.quote_id in message and result.rate_version in message
    assert "保费：" in message
    assert len(message.encode("utf-8")) < 2048, "WeChat text messages are limited to 2048 bytes"


def test_first_month_promotion_states_the_regular_price(service):
    result = service.quote(QuoteRequest("accident", age=35, coverage=500000, payment_mode="monthly",
                                        occupation_class=1))
    message = render(result, service.catalogue)
    assert "首月1元，次月起每月12.70元" in message
    annual = render(service.quote(QuoteRequest("accident", age=35, coverage=500000, payment_mode="annual",
                                               occupation_class=1)), service.catalogue)
    assert "首月" not in annual and "138元/年" in annual


@pytest.mark.parametrize("req,needle", [
    (QuoteRequest("medical_million", age=66, payment_mode="annual"), "65周岁"),
    (QuoteRequest("critical_illness", age=58, coverage=100000, payment_mode="annual"), "百万医疗险"),
    (QuoteRequest("accident", age=30, coverage=100000, payment_mode="annual", occupation_class=6), "百万医疗险"),
    (QuoteRequest("screen", age=30, phone_price_cny=3999, activation_days=200), "180天"),
    (QuoteRequest("typhoon", age=30, province="北京"), "北京"),
    (QuoteRequest("driver_accident", age=30, driver_certified=False, payment_mode="daily"), "综合意外险"),
    (QuoteRequest("medical_million", age=40, payment_mode="annual", relation="other"), "本人、配偶、子女或父母"),
])
def test_refusals_explain_and_never_price(service, req, needle):
    result = service.quote(req)
    message = render(result, service.catalogue)
    assert not result.eligible and needle in message and message.startswith("抱歉")
    assert "保费" not in message and not re.search(r"\d+(\.\d+)?元/(年|月|天)", message)


def test_quote_and_refusal_texts_agree_with_the_product_sheet(service):
    """Every rendered quote and refusal passes the knowledge base's fact checker for its product."""
    from knowledge.factcheck import FactChecker, check_texts
    from tests.conftest import CONTENT_DIR

    requests = ELIGIBLE + [
        QuoteRequest("medical_million", age=66, payment_mode="annual"),
        QuoteRequest("screen", age=30, phone_price_cny=3999, activation_days=200),
        QuoteRequest("typhoon", age=30, province="北京"),
        QuoteRequest("driver_accident", age=30, driver_certified=False, payment_mode="daily"),
        QuoteRequest("accident", age=30, coverage=100000, payment_mode="annual", occupation_class=6),
    ]
    texts = {f"quote {n} {r.product_id}": (render(service.quote(r), service.catalogue), [r.product_id])
             for n, r in enumerate(requests)}
    findings = check_texts(FactChecker.from_content(CONTENT_DIR), texts)
    assert not findings, "\n".join(f.message() for f in findings)
