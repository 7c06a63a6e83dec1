"""Hot reload with the real model: publish under concurrent search load (no failed request), a failed
build keeps the old index, rollback, and several replicas converging (DB poll and Redis pub/sub)."""
from __future__ import annotations

import threading
import time

import httpx
import pytest

from ops.audit import SystemActor
from ops.documents import faq_body, faq_key
from tests.helpers import free_port, serve_app
from web.auth import SESSION_COOKIE
from web.main import create_app

from .conftest import add_users, make_state, ops_settings

pytestmark = pytest.mark.timeout(600)
NEW_ID = "faq.payment.digital_rmb"
NEW_QUESTION = "可以用数字人民币付保费吗？"
NEW_FAQ = {"id": NEW_ID, "question": NEW_QUESTION, "answer": "目前支持微信支付和银行卡，暂不支持数字人民币付款。",
           "similar": ["能用数字人民币交保费不", "数字人民币可以买保险吗", "e-CNY 付款支持吗", "数币钱包能付保费吗"]}
LOAD_QUERIES = ["百万医疗险等待期多久", "怎么理赔", "重疾险能保哪些病", "手机碎屏险怎么赔", "客服几点上班", NEW_QUESTION]
ED = SystemActor("editor1", "editor")


def wait_for(predicate, timeout: float, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s")


def top(url: str, query: str) -> tuple[str, bool]:
    data = httpx.post(f"{url}/api/knowledge/search", json={"query": query, "top_k": 3}, timeout=30).json()
    return data["hits"][0]["id"], data["answerable"]


@pytest.fixture(scope="module")
def served(tmp_path_factory, encoder, knowledge_index):
    settings = ops_settings(tmp_path_factory.mktemp("reload"))
    state = make_state(settings, encoder=encoder, index=knowledge_index)
    tokens = add_users(state)
    with serve_app(create_app(settings, state=state), free_port()) as url:
        assert state.wait_ready(60) and state.kb_sync.live_version_id == 1  # seeded, same content: no rebuild
        yield url, state, tokens


def test_publish_under_search_load_fails_no_request(served):
    url, state, tokens = served
    stop, results, errors = threading.Event(), [], []

    def user(n: int) -> None:
        with httpx.Client(timeout=30) as client:
            i = n
            while not stop.is_set():
                try:
                    resp = client.post(f"{url}/api/knowledge/search",
                                       json={"query": LOAD_QUERIES[i % len(LOAD_QUERIES)], "top_k": 3})
                    results.append(resp.status_code)
                    if resp.status_code != 200:
                        errors.append(resp.text[:200])
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                i += 1

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    try:
        editor = httpx.Client(base_url=url, cookies={SESSION_COOKIE: tokens["editor"]}, timeout=60)
        assert top(url, NEW_QUESTION)[0] != NEW_ID
        assert editor.post("/api/kb/faqs", json=NEW_FAQ).status_code == 201
        test = editor.post("/api/kb/test", json={"query": NEW_QUESTION}).json()  # the draft answers already...
        assert test["draft"]["hits"][0]["id"] == NEW_ID and test["live"]["hits"][0]["id"] != NEW_ID  # ...users not
        started = time.monotonic()
        published = editor.post("/api/kb/publish", json={"note": "数字人民币"}).json()["published"]["id"]
        wait_for(lambda: top(url, NEW_QUESTION) == (NEW_ID, True), 90)
        took = time.monotonic() - started
        assert state.kb_sync.live_version_id == published
        status = editor.get("/api/kb/status").json()
        assert status["live_version_id"] == status["published_version_id"] == published
        assert not status["unpublished_changes"]

        # rollback to the seed version: the FAQ disappears for users again
        back = editor.post("/api/kb/rollback", json={"version_id": 1}).json()["published"]["id"]
        wait_for(lambda: state.kb_sync.live_version_id == back, 90)
        assert top(url, NEW_QUESTION)[0] != NEW_ID
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert len(results) > 20 and not errors, errors[:5]
    print(f"publish -> answered in {took:.1f}s; {len(results)} searches during the swaps, 0 failed")


def test_failed_build_keeps_the_old_index(served):
    url, state, tokens = served
    live_before, index_before = state.kb_sync.live_version_id, state.knowledge.version
    loader = state.knowledge._vocab_loader

    def broken():
        raise RuntimeError("vocabulary unreadable (injected)")

    state.knowledge._vocab_loader = broken
    try:
        body = faq_body({**NEW_FAQ, "id": "faq.payment.broken_build"})
        state.kb.save({faq_key("faq.payment.broken_build"): body}, ED, "坏构建")
        bad = state.kb.publish(ED).id
        state.kb_sync.notify(bad)
        wait_for(lambda: state.kb_sync.failed_version_id == bad, 60)
        assert state.knowledge.version == index_before and state.kb_sync.live_version_id == live_before
        assert top(url, "百万医疗险等待期多久")[0] == "clause.medical_million.waiting_period"  # still serving
        status = httpx.get(f"{url}/api/kb/status", cookies={SESSION_COOKIE: tokens["editor"]}).json()
        assert "构建失败" in status["last_error"] and status["failed_version_id"] == bad
    finally:
        state.knowledge._vocab_loader = loader
    fixed = state.kb.rollback(live_before, ED).id  # ops roll back; the next check builds it
    state.kb_sync.notify(fixed)
    wait_for(lambda: state.kb_sync.live_version_id == fixed, 90)
    assert state.kb_sync.last_error is None


@pytest.mark.parametrize("mode", ["poll", "redis"])
def test_replicas_converge(tmp_path, encoder, knowledge_index, mode):
    """Two web processes' worth of state on one database: a publish in one reaches the other."""
    extra = {"REDIS_URL": "redis://127.0.0.1:6379/0"} if mode == "redis" else {}
    settings = ops_settings(tmp_path, **extra)
    a = make_state(settings, encoder=encoder, index=knowledge_index)
    b = make_state(settings, encoder=encoder, index=knowledge_index)
    a.start()
    b.start()
    if mode == "redis":  # only the pub/sub message can wake b quickly
        b.kb_sync.poll_s = 300
        wait_for(lambda: b.kb_sync.redis_connected, 20)
    try:
        assert a.wait_ready(60) and b.wait_ready(60)
        wait_for(lambda: b.kb_sync.live_version_id == 1, 30)
        a.kb.save({faq_key(NEW_ID): faq_body(NEW_FAQ)}, ED, "新 FAQ")
        vid = a.kb.publish(ED).id
        started = time.monotonic()
        a.kb_sync.notify(vid)
        wait_for(lambda: a.kb_sync.live_version_id == vid and b.kb_sync.live_version_id == vid, 120)
        assert b.knowledge.search(NEW_QUESTION).hits[0].id == NEW_ID
        print(f"{mode}: replica b live {time.monotonic() - started:.1f}s after the publish")
    finally:
        a.stop()
        b.stop()


def test_a_quick_swap_keeps_the_live_re_ranker_and_its_thresholds(settings):
    """A publish reuses the live re-ranker (with the thresholds chosen with it): nothing is retrained at run time."""
    from knowledge.corpus import KnowledgeSnapshot, load_seed
    from knowledge.encoder import HashingEncoder
    from knowledge.service import KnowledgeService
    from knowledge.vocabulary import load_vocabulary

    seed = load_seed(settings.knowledge_dir)
    small = KnowledgeSnapshot(seed.faqs[:12], seed.clause_docs[:1], seed.clause_sources[:1],
                              {k: v for k, v in seed.clause_questions.items() if k.startswith("clause.accident.")})
    service = KnowledgeService(HashingEncoder, lambda: load_vocabulary(settings.knowledge_dir), None)
    first = service.rebuild(small)
    edited = KnowledgeSnapshot(small.faqs[:11], small.clause_docs, small.clause_sources, small.clause_questions)
    quick = service.rebuild(edited, reuse_reranker=True)
    assert quick.reranker is first.reranker and quick.thresholds == first.thresholds
    assert service.version == edited.version
    assert service.search(small.faqs[0].question).hits
