"""Rate tables as versioned documents: console validation (quotes.rates rules) and quotes following the
published version (PublishedRateTables), with a broken table never used."""
from __future__ import annotations

from fastapi.testclient import TestClient

from ops.audit import SystemActor
from ops.documents import rates_key
from ops.rates_source import published_rate_fetcher
from quotes.catalogue import load_catalogue
from quotes.rates import PublishedRateTables, load_rate_tables
from quotes.service import QuoteRequest, QuoteService
from web.auth import SESSION_COOKIE
from web.main import create_app

from .conftest import add_users

ED = SystemActor("editor1", "editor")


def test_console_validates_rate_tables(settings, state):
    tokens = add_users(state)
    client = TestClient(create_app(settings, state=state))
    client.cookies.set(SESSION_COOKIE, tokens["editor"])
    text = client.get("/api/kb/rates/typhoon").json()["text"]
    ok = client.post("/api/kb/rates/typhoon/validate", json={"text": text}).json()
    assert ok == {"ok": True, "problems": []}
    bad = text.replace("{province: 海南, premium: 15.9}", "{province: 海南, premium: -1}")
    check = client.post("/api/kb/rates/typhoon/validate", json={"text": bad}).json()
    assert not check["ok"] and any("positive" in p for p in check["problems"])
    refused = client.put("/api/kb/rates/typhoon", json={"text": bad})
    assert refused.status_code == 422 and state.kb.draft_version_id() == state.kb.published_version_id()
    assert client.post("/api/kb/rates/typhoon/validate", json={"text": "::: not yaml"}).json()["ok"] is False
    saved = client.put("/api/kb/rates/typhoon", json={"text": text.replace("premium: 15.9", "premium: 16.9")})
    assert saved.status_code == 200 and saved.json()["version"]["changes"] == ["rates/typhoon"]


def test_quotes_follow_the_published_rate_tables(settings, state):
    kb = state.kb
    v1 = kb.ensure_seeded()
    catalogue = load_catalogue(settings.knowledge_dir / "products.yml")
    service = QuoteService.from_content_dir(settings.knowledge_dir,
                                            rate_source=published_rate_fetcher(state.engine, settings.knowledge_dir))
    assert isinstance(service.rates, PublishedRateTables)
    service.rates._ttl = 0.0  # check on every quote in this test
    req = QuoteRequest(product_id="accident", age=30, coverage=100000, payment_mode="annual", occupation_class=1)
    assert service.quote(req).to_api()["premium_cny"] == 58

    text = kb.document(v1, rates_key("accident"))
    kb.save({rates_key("accident"): text.replace("premium: 58}", "premium: 62}").replace('"2026.1-r1"', '"2026.1-r2"')},
            ED, "意外险调价")
    assert service.quote(req).to_api()["premium_cny"] == 58  # a draft: not yet
    kb.publish(ED)
    quote = service.quote(req).to_api()
    assert quote["premium_cny"] == 62 and quote["rate_version"] == "2026.1-r2"

    # publishing refuses a broken table; if one reached the quote side anyway, the last good tables keep serving
    fetch = lambda: (("forced",), {**kb.rate_texts(kb.published_version_id()), "typhoon": "product_id: typhoon\n"})
    tables = PublishedRateTables(load_rate_tables(settings.knowledge_dir / "rates", catalogue), catalogue, fetch, ttl_s=0)
    assert str(tables["typhoon"].version) == "2026.1-r1"
