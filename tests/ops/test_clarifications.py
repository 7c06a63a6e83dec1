"""Clarification picks: the action server's report (redacted, validated), the console's grouped list, one-click
"加为相似问" that publishes that FAQ edit alone (audited), dismiss, and the editor role on every console route."""
from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ops import audit, clarifications
from ops.audit import SystemActor
from ops.documents import faq_key
from ops.tables import kb_clarifications
from web.auth import SESSION_COOKIE
from web.main import create_app

from .conftest import add_users

FAQ = "faq.product.waiting_period"
CLAUSE = "clause.medical_million.waiting_period"
OPTIONS = [FAQ, CLAUSE, "faq.product.medical.coverage"]
ED = SystemActor("editor1", "editor")


@pytest.fixture
def env(state):
    tokens = add_users(state)
    state.kb.ensure_seeded()
    app = create_app(state.settings, state=state)  # no lifespan: no index build needed here

    def client(role=None) -> TestClient:
        c = TestClient(app)
        if role:
            c.cookies.set(SESSION_COOKIE, tokens[role])
        return c
    return state, client


def _report(anon, question, sender, chosen=FAQ, options=OPTIONS, **extra):
    return anon.post("/api/clarifications", json={"question": question, "chosen_id": chosen, "options": options,
                                                  "sender_id": sender, **extra})


def _rows(state):
    with state.engine.connect() as conn:
        return list(conn.execute(select(kb_clarifications).order_by(kb_clarifications.c.id)))


def _similar(state, version_id, faq_id=FAQ):
    return json.loads(state.kb.document(version_id, faq_key(faq_id)))["similar"]


def test_report_stores_redacted_choice(env):
    state, client = env
    anon = client()
    resp = _report(anon, "我叫张建国，手机13812345678，那个等待期  是多久", "wx-redact-1", channel="wechat")
    assert resp.status_code == 202 and resp.json()["stored"] is True
    (row,) = _rows(state)
    assert row.id == resp.json()["id"]
    assert row.question == "我叫[姓名]，手机[手机号]，那个等待期 是多久"
    assert "13812345678" not in row.question and "张建国" not in row.question
    assert row.chosen_id == FAQ and json.loads(row.options) == OPTIONS
    assert row.channel == "wechat" and row.status == "open" and row.created_at > 0
    assert row.sender_hash and "wx-redact-1" not in row.sender_hash
    assert row.sender_hash == clarifications.sender_hash("wx-redact-1")  # the unanswered pseudonym (erasure)
    # the same pick from the same sender right away (a retry) is dropped; another sender's is kept
    assert _report(anon, "我叫张建国，手机13812345678，那个等待期  是多久", "wx-redact-1").json() == {"stored": False}
    assert _report(anon, "我叫张建国，手机13812345678，那个等待期  是多久", "wx-redact-2").json()["stored"] is True
    assert len(_rows(state)) == 2


@pytest.mark.parametrize("change", [
    {"question": ""}, {"question": "   "}, {"question": "问" * 2001}, {"sender_id": "s" * 201}, {"channel": "c" * 33},
    {"chosen_id": "faq.nope.not_offered"},            # not one of the options shown
    {"chosen_id": "FAQ.Product"}, {"chosen_id": "faq/../../etc"}, {"chosen_id": "hello"}, {"chosen_id": ""},
    {"chosen_id": "faq." + "a" * 120},
    {"options": []}, {"options": [FAQ] + [f"faq.x.o{n}" for n in range(10)]}, {"options": [FAQ, "<script>"]},
    {"options": FAQ}, {"chosen_id": None},
])
def test_report_refuses_malformed_input(env, change):
    state, client = env
    body = {"question": "等待期多久", "chosen_id": FAQ, "options": OPTIONS, "sender_id": "wx-bad", **change}
    resp = client().post("/api/clarifications", json=body)
    assert resp.status_code == 422, resp.text
    assert _rows(state) == []


def test_report_requires_fields(env):
    _, client = env
    for missing in ("question", "chosen_id", "options"):
        body = {"question": "等待期多久", "chosen_id": FAQ, "options": OPTIONS}
        body.pop(missing)
        assert client().post("/api/clarifications", json=body).status_code == 422


def test_grouped_list_attach_publishes_and_audits(env):
    state, client = env
    anon, editor = client(), client("editor")
    kb = state.kb
    # an editor's unrelated unpublished draft edit: it must stay unpublished
    other = json.loads(kb.document(kb.draft_version_id(), faq_key("faq.service.hours")))
    kb.save({faq_key("faq.service.hours"): json.dumps({**other, "answer": other["answer"] + "（草稿修改）"},
                                                       ensure_ascii=False)}, ED, "草稿改动", action="kb.faq.update")
    published_before = kb.published_version_id()

    question = "等待期要等几天才保 电话13812345678"
    for n in range(3):
        assert _report(anon, question, f"wx-g{n}").status_code == 202
    assert _report(anon, "条款里等待期怎么写的", "wx-c1", chosen=CLAUSE).status_code == 202

    data = editor.get("/api/clarifications").json()
    assert data["open"] == 4
    faq_group = next(g for g in data["groups"] if g["chosen_id"] == FAQ)
    standard = json.loads(kb.document(published_before, faq_key(FAQ)))["question"]
    assert faq_group["title"] == standard and faq_group["attachable"] and faq_group["kind"] == "faq"
    (entry,) = faq_group["questions"]
    assert entry["question"] == "等待期要等几天才保 电话[手机号]" and entry["count"] == 3 and len(entry["ids"]) == 3
    assert entry["known"] is False and entry["last_at"] >= entry["first_at"]
    clause_group = next(g for g in data["groups"] if g["chosen_id"] == CLAUSE)
    assert clause_group["attachable"] is False and clause_group["kind"] == "clause"
    assert data["groups"][0]["chosen_id"] == FAQ  # most picked first

    # a clause section cannot take similar questions; mixed picks are refused; nothing changed
    clause_ids = clause_group["questions"][0]["ids"]
    assert editor.post("/api/clarifications/attach", json={"ids": clause_ids}).status_code == 422
    assert editor.post("/api/clarifications/attach", json={"ids": entry["ids"] + clause_ids}).status_code == 422
    assert editor.post("/api/clarifications/attach", json={"ids": [999999]}).status_code == 404
    assert kb.published_version_id() == published_before

    # one click: the question becomes a similar question of the chosen FAQ, published at once
    resp = editor.post("/api/clarifications/attach", json={"ids": entry["ids"]})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["published"] is True and out["faq_id"] == FAQ
    published = kb.published_version_id()
    assert published == out["version"]["id"] != published_before
    assert "等待期要等几天才保 电话[手机号]" in _similar(state, published)
    assert "13812345678" not in kb.document(published, faq_key(FAQ))
    # only that FAQ went live: the other draft edit is still a draft, and the draft has both
    assert "（草稿修改）" not in kb.document(published, faq_key("faq.service.hours"))
    draft = kb.draft_version_id()
    assert draft != published and "（草稿修改）" in kb.document(draft, faq_key("faq.service.hours"))
    assert "等待期要等几天才保 电话[手机号]" in _similar(state, draft)
    assert kb.manifest(draft) != kb.manifest(published)
    assert [d.key for d in kb.diff(published_before, published)] == [faq_key(FAQ)]

    rows = {r.id: r for r in _rows(state)}
    assert all(rows[i].status == "attached" and rows[i].resolved_by == "editor1" and rows[i].version_id == published
               for i in entry["ids"])
    remaining = editor.get("/api/clarifications").json()["groups"]
    assert [g["chosen_id"] for g in remaining] == [CLAUSE]
    assert editor.post("/api/clarifications/attach", json={"ids": entry["ids"]}).status_code == 409  # done already

    # audited: the edit (clarification.attach) and the publish, in one hash chain
    entries = client("admin").get("/api/audit").json()
    assert entries["chain"]["intact"]
    mine = [e for e in entries["entries"] if e["action"] == "clarification.attach"]
    assert len(mine) == 1 and mine[0]["actor"] == "editor1" and mine[0]["target"] == faq_key(FAQ)
    assert mine[0]["detail"]["published"] is True and sorted(mine[0]["detail"]["clarification_ids"]) == sorted(entry["ids"])
    assert any(e["action"] == "kb.publish" and e["target"] == f"v{published}" for e in entries["entries"])

    # dismiss the clause pick: gone from the list, audited
    assert editor.post("/api/clarifications/dismiss", json={"ids": clause_ids}).json() == {"dismissed": 1}
    assert editor.get("/api/clarifications").json() == {"groups": [], "open": 0}
    assert "clarification.dismiss" in {e["action"] for e in client("admin").get("/api/audit").json()["entries"]}
    assert audit.verify(state.engine)[0]


def test_attach_known_question_marks_without_new_version(env):
    state, client = env
    kb = state.kb
    known = _similar(state, kb.published_version_id())[0]
    _report(client(), known, "wx-known")
    editor = client("editor")
    entry = editor.get("/api/clarifications").json()["groups"][0]["questions"][0]
    assert entry["known"] is True
    before = kb.published_version_id()
    out = editor.post("/api/clarifications/attach", json={"ids": entry["ids"]}).json()
    assert out["published"] is False and out["version"]["id"] == before == kb.published_version_id()
    assert _rows(state)[0].status == "attached"


def test_attach_with_clean_draft_moves_draft_with_published(env):
    state, client = env
    kb = state.kb
    _report(client(), "等多久才开始保障呀", "wx-clean")
    editor = client("editor")
    ids = editor.get("/api/clarifications").json()["groups"][0]["questions"][0]["ids"]
    out = editor.post("/api/clarifications/attach", json={"ids": ids}).json()
    assert kb.draft_version_id() == kb.published_version_id() == out["version"]["id"]
    assert not editor.get("/api/kb/status").json()["unpublished_changes"]


@pytest.mark.parametrize("role", [None, "viewer", "agent"])
def test_console_routes_need_an_editor(env, role):
    state, client = env
    _report(client(), "等待期多久", f"wx-role-{role}")
    ids = [r.id for r in _rows(state)]
    c = client(role)
    expected = 401 if role is None else 403
    assert c.get("/api/clarifications").status_code == expected
    assert c.post("/api/clarifications/attach", json={"ids": ids}).status_code == expected
    assert c.post("/api/clarifications/dismiss", json={"ids": ids}).status_code == expected
    assert all(r.status == "open" for r in _rows(state))
    assert client("editor").get("/api/clarifications").status_code == 200


# ---- the action server side: actions/unanswered.report_choice -----------------------------------------
def test_report_choice_is_fire_and_forget_and_redacted(monkeypatch):
    import actions.unanswered as report

    sent: list[tuple] = []

    async def capture(payload, *args):
        sent.append((payload, args))

    monkeypatch.setattr(report, "_post", capture)

    async def run():
        assert report.report_choice("我手机13812345678 等待期多久", chosen_id=FAQ, options=OPTIONS,
                                    sender_id="wx1", channel="wecom_kf") is None
        await asyncio.gather(*list(report._pending))

    asyncio.run(run())
    ((payload, args),) = sent
    assert payload == {"question": "我手机[手机号] 等待期多久", "chosen_id": FAQ, "options": OPTIONS,
                       "sender_id": "wx1", "channel": "wecom_kf"}
    assert args[0] == "/api/clarifications"
    report.report_choice("没有事件循环", chosen_id=FAQ, options=OPTIONS)  # sync caller: skipped, no error
    assert len(sent) == 1


def test_report_choice_failure_is_logged_not_raised(monkeypatch, caplog):
    import actions.unanswered as report

    class Down:
        async def post(self, *a, **kw):
            raise httpx.ConnectError("refused")

    monkeypatch.setattr(report, "web_client", lambda: Down())

    async def run():
        report.report_choice("等待期多久", chosen_id=FAQ, options=OPTIONS, sender_id="wx1")
        await asyncio.gather(*list(report._pending))

    with caplog.at_level(logging.WARNING, logger="actions.unanswered"):
        asyncio.run(run())
    assert any(getattr(r, "event", "") == "answer.choice_report_failed" for r in caplog.records)


def test_report_choice_reaches_the_web_service(env, monkeypatch):
    """End to end over HTTP: the action server's payload is what POST /api/clarifications accepts."""
    import actions.unanswered as report

    state, client = env
    transport = httpx.ASGITransport(app=client().app)

    async def run():
        async with httpx.AsyncClient(transport=transport, base_url="http://web") as http:
            monkeypatch.setattr(report, "web_client", lambda: http)
            monkeypatch.setattr(report, "web_url", lambda: "http://web")
            report.report_choice("身份证110101199003074514 等待期多久", chosen_id=CLAUSE, options=OPTIONS,
                                 sender_id="wx-e2e", channel="wechat")
            await asyncio.gather(*list(report._pending))

    asyncio.run(run())
    (row,) = _rows(state)
    assert row.question == "身份证[身份证号] 等待期多久" and row.chosen_id == CLAUSE and row.channel == "wechat"


# ---- the test box: decision, reason, margin, thresholds, options ----------------------------------------
class _Index:
    """Enough of a KnowledgeIndex for web.routes.kb_admin._answer."""

    version = "v-test"

    def __init__(self, result):
        from knowledge.vocabulary import load_vocabulary
        from tests.conftest import CONTENT_DIR

        self.result, self.vocab = result, load_vocabulary(CONTENT_DIR)
        self.corpus = type("C", (), {"items": {FAQ: type("I", (), {"title": "等待期是多久？"})()}})()

    def search(self, query, top_k=3, context_product=None):
        return self.result


def _result(**fields):
    from knowledge.search import Choice, Hit, SearchResult

    def hit(item_id: str) -> Hit:
        return Hit(item_id, "faq", 0.5, "等待期是多久？" if item_id == FAQ else "《百万医疗险条款》等待期", "…", "…")

    choices = [Choice(i, hit(i).title, hit(i)) for i in fields.pop("options", [])]
    base = {"query": "q", "hits": [hit(FAQ)], "answerable": False, "confidence": 0.12, "reason": "",
            "thresholds": {"answer": 0.3, "clarify": 0.1, "option": 0.05}}
    return SearchResult(**{**base, **fields, "choices": choices})


def _answer(result):
    from web.routes.kb_admin import TestIn, _answer as answer

    return answer(_Index(result), TestIn(query="q"))


def test_answer_shows_the_three_way_decision_and_why():
    out = _answer(_result(decision="clarify", reason="clarify", options=[FAQ, CLAUSE], confidence=0.2, top_score=0.4))
    assert out["decision"] == "clarify" and out["options"] == [FAQ, CLAUSE]
    assert out["option_titles"] == ["等待期是多久？", "《百万医疗险条款》等待期"]
    assert out["thresholds"] == {"answer": 0.3, "clarify": 0.1, "option": 0.05} and out["top_score"] == 0.4
    out = _answer(_result(decision="answer", reason="exact_match", answerable=True, matched="等待期多久", options=[FAQ]))
    assert out["decision"] == "answer" and out["matched"] == "等待期多久" and out["options"] == []
    assert out["option_titles"] == []
    out = _answer(_result(decision="refuse", reason="foreign_term", foreign_term="车险"))
    assert (out["decision"], out["reason"], out["foreign_term"]) == ("refuse", "foreign_term", "车险")


# ---- store level, SQLite and PostgreSQL: the single-FAQ publish, concurrent clicks ---------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path, settings):
    import ops.tables  # noqa: F401
    from ops.store import KbStore
    from storage.db import create_all, get_engine

    url = f"sqlite:///{tmp_path / 'app.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = get_engine(url)
    create_all(engine)
    kb = KbStore(engine, settings.knowledge_dir)
    kb.ensure_seeded()
    return kb


def test_attach_on_both_databases_once_under_concurrent_clicks(store):
    import threading

    from ops.store import ConflictError

    ids = [clarifications.record(store.engine, "保单生效前要等多久", chosen_id=FAQ, options=OPTIONS, sender_id=f"s{n}")
           for n in range(2)]
    # an unpublished draft edit of the same FAQ: the draft keeps it and gets the question too
    faq = json.loads(store.document(store.draft_version_id(), faq_key(FAQ)))
    store.save({faq_key(FAQ): json.dumps({**faq, "answer": faq["answer"] + "（草稿）"}, ensure_ascii=False)}, ED,
               "草稿", action="kb.faq.update")
    before = store.published_version_id()
    results, errors = [], []

    def click():
        try:
            results.append(clarifications.attach(store, ids, ED))
        except ConflictError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=click) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 1 and len(errors) == 2  # one click wins, the others are told it is done
    info, created, faq_id = results[0]
    assert created and faq_id == FAQ and store.published_version_id() == info.id != before
    published = json.loads(store.document(info.id, faq_key(FAQ)))
    draft = json.loads(store.document(store.draft_version_id(), faq_key(FAQ)))
    assert "保单生效前要等多久" in published["similar"] and "（草稿）" not in published["answer"]
    assert "保单生效前要等多久" in draft["similar"] and draft["answer"].endswith("（草稿）")
    assert [v.summary for v in store.versions(2)] == ["保留草稿中未发布的修改",
                                                        f"澄清后选定的问题 1 条加为 {FAQ} 的相似问并发布"]
    assert clarifications.count_open(store.engine) == 0
    assert audit.verify(store.engine)[0]
    actions = [e["action"] for e in audit.entries(store.engine, 10, 0)]
    assert actions.count("clarification.attach") == 1 and actions.count("kb.publish") == 1
