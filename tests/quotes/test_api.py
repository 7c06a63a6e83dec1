"""`POST /api/quotes` through the real app factory (web.main.create_app) and a real SQLite database."""
import pytest
from fastapi.testclient import TestClient

from common.settings import load_settings
from quotes.audit import DisplayRecorder
from quotes.service import QuoteService
from tests.quotes.conftest import SUMMER, Clock
from web.main import create_app
from web.state import AppState

ISSUE_FIELDS = {"quote_id", "eligible", "reason", "premium_cny", "payment_mode", "exclusions_citation",
                "waiting_period_days", "rate_version"}


@pytest.fixture(scope="module")
def app_and_state(tmp_path_factory):
    var = tmp_path_factory.mktemp("var")
    settings = load_settings({"INSUREBOT_VAR_DIR": str(var)})
    state = AppState.create(settings)
    state.start = lambda: None  # the knowledge index is not needed for quotes
    app = create_app(settings, state=state)
    return app, state


@pytest.fixture(scope="module")
def client(app_and_state):
    app, _ = app_and_state
    with TestClient(app) as c:
        yield c


@pytest.fixture
def summer(app_and_state, catalogue, rate_tables, clause_facts):
    """Pin the app's quote service to a July day (typhoon sale window)."""
    app, state = app_and_state
    previous = getattr(app.state, "quote_service", None)
    app.state.quote_service = QuoteService(catalogue, rate_tables, clause_facts, clock=Clock(SUMMER),
                                           recorder=DisplayRecorder(state.engine))
    yield
    app.state.quote_service = previous


def test_issue_example(client, app_and_state):
    resp = client.post("/api/quotes", json={"product_id": "medical_million", "age": 35, "coverage": 3000000,
                                            "payment_mode": "annual"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert ISSUE_FIELDS <= set(body)
    assert body["eligible"] is True and body["reason"] is None
    assert body["premium_cny"] == 296.0 and body["payment_mode"] == "annual"
    assert body["exclusions_citation"] == "《百万医疗险条款》第四条、第五条 责任免除"
    assert body["waiting_period_days"] == 30 and body["rate_version"] == "2026.1-r1"
    assert body["quote_id"].startswith("Q") and len(body["quote_id"]) == 17
    # the display was recorded in the application database
    _, state = app_and_state
    records = DisplayRecorder(state.engine).for_quote(body["quote_id"])
    assert len(records) == 1 and records[0]["channel"] == "api" and records[0]["product_id"] == "medical_million"
    assert records[0]["clause_version"] == "2026.1" and "责任免除" in records[0]["message"]


def test_single_option_coverage_may_be_omitted(client):
    body = client.post("/api/quotes", json={"product_id": "medical_million", "age": 35,
                                            "payment_mode": "monthly"}).json()
    assert body["eligible"] and body["premium_cny"] == 26.64


@pytest.mark.parametrize("payload,premium", [
    ({"product_id": "accident", "age": 35, "coverage": 500000, "payment_mode": "monthly", "occupation_class": 3}, 17.78),
    ({"product_id": "critical_illness", "age": 30, "coverage": 500000, "payment_mode": "annual"}, 6100.0),
    ({"product_id": "screen", "age": 30, "phone_price_cny": 5999, "activation_days": 30}, 129.0),
    ({"product_id": "driver_accident", "age": 45, "driver_certified": True, "payment_mode": "daily"}, 2.94),
    ({"product_id": "medical_million", "age_days": 60, "payment_mode": "annual"}, 168.0),
])
def test_every_product_prices(client, payload, premium):
    resp = client.post("/api/quotes", json=payload)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["eligible"] is True and body["premium_cny"] == premium
    assert "责任免除" in body["exclusions_citation"] and body["breakdown"]


def test_accident_monthly_states_first_month_and_regular_price(client):
    body = client.post("/api/quotes", json={"product_id": "accident", "age": 30, "coverage": 100000,
                                            "payment_mode": "monthly", "occupation_class": 1}).json()
    assert body["first_period_premium_cny"] == 1.0 and body["premium_cny"] == 5.34
    assert "首月1元，次月起每月5.34元" in body["message"]


def test_typhoon_in_season(client, summer):
    body = client.post("/api/quotes", json={"product_id": "typhoon", "age": 30, "province": "广东",
                                            "payment_mode": "annual"}).json()
    assert body["eligible"] and body["premium_cny"] == 12.9 and body["waiting_period_days"] == 3
    three = client.post("/api/quotes", json={"product_id": "typhoon", "age": 30, "province": "深圳",
                                             "term_months": 3}).json()
    assert three["premium_cny"] == 33.54


@pytest.mark.parametrize("payload,field", [
    ({"product_id": "medical_million", "age": 66, "payment_mode": "annual"}, "age"),
    ({"product_id": "medical_million", "age_days": 27, "payment_mode": "annual"}, "age_days"),
    ({"product_id": "accident", "age": 35, "coverage": 100000, "payment_mode": "annual", "occupation_class": 5}, "occupation_class"),
    ({"product_id": "screen", "age": 30, "phone_price_cny": 3999, "activation_days": 181}, "activation_days"),
    ({"product_id": "driver_accident", "age": 30, "driver_certified": False, "payment_mode": "daily"}, "driver_certified"),
    ({"product_id": "critical_illness", "age": 56, "coverage": 100000, "payment_mode": "annual"}, "age"),
])
def test_ineligible_gets_a_reason_and_no_premium(client, payload, field):
    resp = client.post("/api/quotes", json=payload)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["eligible"] is False and body["premium_cny"] is None and body["reason"]
    assert body["breakdown"] == []


def test_typhoon_region_and_season(client, summer):
    body = client.post("/api/quotes", json={"product_id": "typhoon", "age": 30, "province": "湖南"}).json()
    assert body["eligible"] is False and "湖南" in body["reason"]


def test_typhoon_out_of_season_with_the_real_clock_or_not(client):
    # the app's own clock: in season the quote is priced, otherwise refused with the window
    body = client.post("/api/quotes", json={"product_id": "typhoon", "age": 30, "province": "广东"}).json()
    assert body["eligible"] is True or "6月1日至10月31日" in body["reason"]


def test_alternative_is_named(client):
    body = client.post("/api/quotes", json={"product_id": "critical_illness", "age": 58, "coverage": 100000,
                                            "payment_mode": "annual"}).json()
    assert body["eligible"] is False and body["alternative_product_id"] == "medical_million"


@pytest.mark.parametrize("payload,field,needle", [
    ({"age": 35}, "product_id", "Field required"),
    ({"product_id": "pet_insurance", "age": 35}, "product_id", "unknown product"),
    ({"product_id": "medical_million", "age": -1, "payment_mode": "annual"}, "age", "greater than or equal to 0"),
    ({"product_id": "medical_million", "age": "old", "payment_mode": "annual"}, "age", "valid integer"),
    ({"product_id": "medical_million", "age": 35.5, "payment_mode": "annual"}, "age", "fractional part"),
    ({"product_id": "medical_million", "age": 35, "payment_mode": "weekly"}, "payment_mode", "annual"),
    ({"product_id": "medical_million", "age": 35, "payment_mode": "daily"}, "payment_mode", "not offered"),
    ({"product_id": "medical_million", "age": 35}, "payment_mode", "required"),
    ({"product_id": "medical_million", "payment_mode": "annual"}, "age", "age or age_days is required"),
    ({"product_id": "medical_million", "age": 35, "age_days": 100, "payment_mode": "annual"}, "age_days", "not age 35"),
    ({"product_id": "medical_million", "age": 0, "payment_mode": "annual"}, "age_days", "age_days is needed"),
    ({"product_id": "medical_million", "age": 35, "coverage": 1000000, "payment_mode": "annual"}, "coverage", "not offered"),
    ({"product_id": "accident", "age": 35, "payment_mode": "annual", "occupation_class": 1}, "coverage", "required"),
    ({"product_id": "accident", "age": 35, "coverage": 100000, "payment_mode": "annual"}, "occupation_class", "required"),
    ({"product_id": "accident", "age": 35, "coverage": 100000, "payment_mode": "annual", "occupation_class": 7},
     "occupation_class", "less than or equal to 6"),
    ({"product_id": "screen", "age": 30, "activation_days": 10}, "phone_price_cny", "required"),
    ({"product_id": "screen", "age": 30, "phone_price_cny": 0, "activation_days": 10}, "phone_price_cny", "greater than 0"),
    ({"product_id": "typhoon", "age": 30}, "province", "required"),
    ({"product_id": "typhoon", "age": 30, "province": "火星"}, "province", "not a Chinese province"),
    ({"product_id": "driver_accident", "age": 30, "payment_mode": "daily"}, "driver_certified", "required"),
    ({"product_id": "critical_illness", "age": 30, "coverage": 120000, "payment_mode": "annual"}, "coverage", "not offered"),
    ({"product_id": "critical_illness", "age": 30, "coverage": 100000, "payment_mode": "annual", "payment_years": 15},
     "payment_years", "10"),
])
def test_malformed_input_is_a_422_naming_the_field(client, summer, payload, field, needle):
    resp = client.post("/api/quotes", json=payload)
    assert resp.status_code == 422, resp.text
    errors = resp.json()["detail"]
    assert any(e["loc"][-1] == field and needle in e["msg"] for e in errors), errors


def test_non_json_body_is_a_422(client):
    resp = client.post("/api/quotes", content=b"product_id=medical_million", headers={"content-type": "text/plain"})
    assert resp.status_code == 422


def test_caller_header_is_pseudonymised_in_the_record(client, app_and_state):
    body = client.post("/api/quotes", headers={"X-Insurebot-User": "oWx-openid-123456789"},
                       json={"product_id": "medical_million", "age": 40, "payment_mode": "annual"}).json()
    _, state = app_and_state
    record = DisplayRecorder(state.engine).for_quote(body["quote_id"])[0]
    assert "openid-123456789" not in str(record) and record["user_masked"] == "oWx***789"


def test_router_alone_works_without_the_app_state(tmp_path, monkeypatch):
    """Tools can mount only this router: settings then come from the environment."""
    from fastapi import FastAPI

    from web.routes import quotes

    monkeypatch.setenv("INSUREBOT_VAR_DIR", str(tmp_path))
    app = FastAPI()
    app.include_router(quotes.router)
    with TestClient(app) as c:
        resp = c.post("/api/quotes", json={"product_id": "medical_million", "age": 35, "payment_mode": "annual"})
    assert resp.status_code == 200 and resp.json()["premium_cny"] == 296.0
    assert (tmp_path / "app.db").exists()
