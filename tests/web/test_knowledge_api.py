"""The search API contract used by the action server and external evaluation."""
import pytest
from fastapi.testclient import TestClient

from common.settings import load_settings
from web.main import create_app
from web.state import AppState


@pytest.fixture(scope="module")
def client(tmp_path_factory, knowledge_index):
    var = tmp_path_factory.mktemp("var")
    settings = load_settings({"INSUREBOT_VAR_DIR": str(var)})
    state = AppState.create(settings)
    state.knowledge._index = knowledge_index  # reuse the session's real index instead of building again
    state.start = lambda: None
    with TestClient(create_app(settings, state=state)) as c:
        yield c


def test_search_returns_cited_hits(client):
    resp = client.post("/api/knowledge/search", json={"query": "百万医疗险等待期多久", "top_k": 5})
    assert resp.status_code == 200
    body = resp.json()
    assert body["answerable"] is True and body["decision"] == "answer" and body["options"] == []
    assert body["choices"][0]["id"] == "clause.medical_million.waiting_period"
    assert body["choices"][0]["companion"]["id"] == "faq.product.waiting_period"
    assert set(body["thresholds"]) == {"answer", "clarify", "option"}
    assert 1 <= len(body["hits"]) <= 5
    top = body["hits"][0]
    assert set(top) >= {"id", "kind", "score", "title", "text", "citation"}
    assert top["id"] == "clause.medical_million.waiting_period" and top["kind"] == "clause"
    assert "《百万医疗险条款》" in top["citation"]


def test_context_product_counts(client):
    body = client.post("/api/knowledge/search", json={"query": "那免赔额呢", "context_product": "medical_million"}).json()
    assert body["hits"][0]["id"] == "clause.medical_million.deductible"


@pytest.mark.parametrize("payload,needle", [
    ({"query": ""}, "query must not be empty"),
    ({"query": "   "}, "query must not be empty"),
    ({"query": "保" * 501}, "at most 500 characters"),
    ({"query": "理赔", "top_k": 0}, "greater than or equal to 1"),
    ({}, "Field required"),
])
def test_bad_queries_get_a_clear_422(client, payload, needle):
    resp = client.post("/api/knowledge/search", json=payload)
    assert resp.status_code == 422
    assert needle in resp.text


def test_unanswerable_query(client):
    body = client.post("/api/knowledge/search", json={"query": "交强险多少钱一年"}).json()
    assert body["answerable"] is False
    assert (body["decision"], body["reason"], body["foreign_term"]) == ("refuse", "foreign_term", "交强险")


def test_a_clarification_lists_the_options_in_the_order_shown(client):
    from knowledge.training import load_dev

    for q in load_dev():
        body = client.post("/api/knowledge/search", json={"query": q.text, "context_product": q.context_product}).json()
        if body["decision"] == "clarify":
            break
    else:
        raise AssertionError("no dev message is clarified")
    assert body["options"] == [c["id"] for c in body["choices"]] and 1 <= len(body["options"]) <= 3
    assert body["answerable"] is False and body["reason"] == "clarify"
    assert body["thresholds"]["answer"] > body["confidence"] and body["top_score"] >= body["thresholds"]["clarify"]


def test_previous_query_makes_a_bare_follow_up_whole(client):
    body = client.post("/api/knowledge/search", json={"query": "那重疾险呢", "previous_query": "百万医疗险等待期多久"}).json()
    assert body["query"] == "重疾险等待期多久" and body["decision"] == "answer"


def test_healthz_reports_components_and_fails_when_rasa_is_down(client):
    resp = client.get("/healthz")
    body = resp.json()
    assert set(body["components"]) == {"rasa_core", "action_server", "knowledge_index", "database"}
    assert body["components"]["knowledge_index"]["status"] == "up"
    assert body["components"]["database"]["status"] == "up"
    if body["components"]["rasa_core"]["status"] == "down":
        assert resp.status_code == 503 and body["status"] == "down"
