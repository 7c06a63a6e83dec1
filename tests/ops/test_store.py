"""The versioned knowledge base: seed, edit, publish, rollback, diff, validation, audit (SQLite and PostgreSQL)."""
from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import text

from knowledge.corpus import load_seed
from ops import audit
from ops.audit import SystemActor
from ops.documents import DocumentError, clause_key, faq_body, faq_key, rates_key
from ops.store import ConflictError, KbStore
from storage.db import create_all, get_engine

ED = SystemActor("editor1", "editor")


def _store(url: str, content_dir) -> KbStore:
    import ops.tables  # noqa: F401

    engine = get_engine(url)
    create_all(engine)
    return KbStore(engine, content_dir)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path, settings):
    if request.param == "sqlite":
        return _store(f"sqlite:///{tmp_path / 'app.db'}", settings.knowledge_dir)
    return _store(request.getfixturevalue("pg_url"), settings.knowledge_dir)


def _edit_faq(store: KbStore, faq_id: str, **changes) -> str:
    faq = json.loads(store.document(store.draft_version_id(), faq_key(faq_id)))
    faq.update(changes)
    return faq_body(faq)


def test_seed_is_the_files_and_published(store, settings):
    vid = store.ensure_seeded()
    assert store.ensure_seeded() == vid  # idempotent
    assert store.published_version_id() == store.draft_version_id() == vid
    seed = load_seed(settings.knowledge_dir)
    assert store.snapshot(vid).version == seed.version  # same FAQ/clauses/questions, same order
    assert set(store.rate_texts(vid)) == {p.stem for p in (settings.knowledge_dir / "rates").glob("*.yml")}
    assert store.version(vid).created_by == "system"


def test_version_publish_rollback_round_trip(store):
    v1 = store.ensure_seeded()
    original = store.snapshot(v1)
    body = _edit_faq(store, "faq.service.hours", answer="人工客服每天09:00-22:00在线（北京时间），节假日照常。")
    v2 = store.save({faq_key("faq.service.hours"): body}, ED, "改客服时间答案")
    assert v2.id > v1 and v2.created_by == "editor1" and v2.changes == (faq_key("faq.service.hours"),)
    assert store.published_version_id() == v1 and v2.is_draft_head and not v2.is_published  # draft only

    published = store.publish(ED)
    assert published.id == v2.id and published.is_published and published.published_by == "editor1"
    live = store.snapshot(store.published_version_id())
    assert next(f for f in live.faqs if f.id == "faq.service.hours").answer.endswith("节假日照常。")

    diff = store.diff(v1, v2.id)
    assert [d.key for d in diff] == [faq_key("faq.service.hours")] and diff[0].status == "changed"
    assert any(line.startswith("+答案: ") and "节假日照常" in line for line in diff[0].lines)

    back = store.rollback(v1, ED)
    assert back.id > v2.id and back.is_published and back.is_draft_head and back.summary == f"回滚到版本 {v1}"
    assert store.snapshot(back.id).version == original.version
    assert store.diff(v1, back.id) == []
    # every step is in the audit log, chained
    actions = [e["action"] for e in audit.entries(store.engine)]
    assert actions[:3] == ["kb.rollback", "kb.publish", "kb.edit"] and actions[-1] == "kb.seed"
    assert audit.verify(store.engine) == (True, 4, None)


def test_add_and_delete_documents_and_conflicts(store):
    v1 = store.ensure_seeded()
    new = faq_body({"id": "faq.custom.car", "question": "你们卖车险吗？", "answer": "我们暂不销售车险。",
                    "similar": ["有没有车险", "车险能买吗"]})
    store.save({faq_key("faq.custom.car"): new}, ED, "新建", expect={faq_key("faq.custom.car"): None})
    with pytest.raises(ConflictError):  # created meanwhile by someone else
        store.save({faq_key("faq.custom.car"): new}, ED, "新建", expect={faq_key("faq.custom.car"): None})
    loaded = store.manifest(store.draft_version_id())[faq_key("faq.service.hours")]
    store.save({faq_key("faq.service.hours"): _edit_faq(store, "faq.service.hours", answer="客服09:00-22:00在线。")},
               ED, "a", expect={faq_key("faq.service.hours"): loaded})
    with pytest.raises(ConflictError):  # a second editor saving over the first one's change
        store.save({faq_key("faq.service.hours"): _edit_faq(store, "faq.service.hours", answer="别的答案。")},
                   ED, "b", expect={faq_key("faq.service.hours"): loaded})
    v = store.save({faq_key("faq.custom.car"): None}, ED, "删除")
    assert faq_key("faq.custom.car") not in store.manifest(v.id)
    assert [d.status for d in store.diff(v1, v.id)] == ["changed"]


def test_invalid_content_is_never_published(store):
    v1 = store.ensure_seeded()
    with pytest.raises(DocumentError, match="超过上限300字"):
        faq_body({"id": "faq.x.y", "question": "问", "answer": "长" * 301})
    with pytest.raises(DocumentError):
        faq_body({"id": "FAQ bad id", "question": "问", "answer": "答"})
    # a clause document with a broken article numbering and a rate table with a gap, forced into the draft
    clause = store.document(v1, clause_key("screen")).replace("第二条", "第九条", 1)
    rates = store.document(v1, rates_key("medical_million")).replace("premium:", "premiun:", 1)
    store.save({clause_key("screen"): clause, rates_key("medical_million"): rates}, ED, "坏内容")
    with pytest.raises(DocumentError) as info:
        store.publish(ED)
    text_ = "\n".join(info.value.problems)
    assert "第一条" in text_ and "medical_million.yml" in text_
    assert store.published_version_id() == v1


def test_concurrent_saves_lose_nothing(store):
    store.ensure_seeded()
    ids = ["faq.service.hours", "faq.service.company", "faq.claim.process", "faq.claim.progress"]
    errors = []

    def worker(faq_id: str) -> None:
        try:
            for n in range(3):
                body = _edit_faq(store, faq_id, similar=[f"并发测试{faq_id}{n}"])
                store.save({faq_key(faq_id): body}, ED, f"{faq_id} {n}")
        except Exception as exc:  # pragma: no cover - the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    head = store.draft_version_id()
    for faq_id in ids:
        assert json.loads(store.document(head, faq_key(faq_id)))["similar"] == [f"并发测试{faq_id}2"]
    assert len(store.versions(limit=50)) == 1 + 3 * len(ids)
    assert audit.verify(store.engine)[0]


def test_audit_log_is_append_only_and_tamper_evident(store):
    store.ensure_seeded()
    audit.record(store.engine, ED, "test.action", "x", {"n": 1})
    for sql in ("UPDATE kb_audit SET actor = 'mallory'", "DELETE FROM kb_audit"):
        with pytest.raises(Exception, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(text(sql))
    assert audit.verify(store.engine) == (True, 2, None)


def test_changed_seed_files_are_imported_on_top(tmp_path, settings):
    """A deploy (or a developer) edits knowledge/content: exactly those documents go live at the next start;
    ops' published edits to other documents and their unpublished draft stay."""
    import shutil

    import yaml

    content = tmp_path / "content"
    shutil.copytree(settings.knowledge_dir, content)
    store = _store(f"sqlite:///{tmp_path / 'seed.db'}", content)
    v1 = store.ensure_seeded()
    assert store.import_seed_changes() is None  # nothing changed
    store.save({faq_key("faq.service.company"): _edit_faq(store, "faq.service.company", answer="运营改过的公司介绍。")},
               ED, "ops 已发布的修改")
    store.publish(ED)
    store.save({faq_key("faq.claim.process"): _edit_faq(store, "faq.claim.process", answer="草稿中的理赔流程。")},
               ED, "ops 未发布的草稿")

    raw = yaml.safe_load((content / "faq.yml").read_text(encoding="utf-8"))
    for faq in raw["faqs"]:
        if faq["id"] == "faq.service.hours":
            faq["answer"] = "文件里更新的客服时间：每天09:00-22:00。"
    (content / "faq.yml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")

    imported = store.import_seed_changes()
    assert imported is not None and imported.is_published and imported.changes == (faq_key("faq.service.hours"),)
    live = {f.id: f.answer for f in store.snapshot(store.published_version_id()).faqs}
    assert live["faq.service.hours"].startswith("文件里更新的")
    assert live["faq.service.company"] == "运营改过的公司介绍。"       # ops' published edit kept
    assert live["faq.claim.process"] != "草稿中的理赔流程。"            # the draft is still only a draft...
    draft = {f.id: f.answer for f in store.snapshot(store.draft_version_id()).faqs}
    assert draft["faq.claim.process"] == "草稿中的理赔流程。" and draft["faq.service.hours"].startswith("文件里")
    assert store.import_seed_changes() is None  # imported once
    assert [e["action"] for e in audit.entries(store.engine)][0] == "kb.seed_update" and v1 == 1


def test_a_draft_that_contradicts_the_product_sheet_is_not_published(store):
    """The publish step runs the fact checker: the editor is told which sentence and which fact."""
    v1 = store.ensure_seeded()
    answer = "百万医疗险主要保住院，恶性肿瘤门诊放化疗等特殊门诊也视同住院，同样适用1万免赔额和等待期。"
    clause = store.document(v1, clause_key("typhoon")).replace(
        "橙色预警和红色预警各视为一次预警，分别按前条标准给付（共200元+500元），计入第三条的累计给付次数。",
        "按一次预警、红色预警标准给付500元。")
    store.save({faq_key("faq.claim.outpatient"): _edit_faq(store, "faq.claim.outpatient", answer=answer),
                clause_key("typhoon"): clause}, ED, "与产品资料矛盾的草稿")
    with pytest.raises(DocumentError) as info:
        store.publish(ED)
    problems = info.value.problems
    assert any(answer in p and "medical_million.deductible.critical_illness_medical" in p and "重大疾病医疗0免赔" in p
               for p in problems), problems
    assert any("第二条" in p and "typhoon.payout" in p for p in problems), problems
    assert store.published_version_id() == v1
