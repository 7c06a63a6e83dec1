"""Unanswered questions: masked on the way in, grouped by meaning with the real encoder, resolved in one action."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from ops import unanswered
from ops.audit import SystemActor
from ops.documents import faq_key
from web.auth import SESSION_COOKIE
from web.main import create_app

from .conftest import add_users, make_state

ED = SystemActor("editor1", "editor")
CAR = ["你们有车险吗", "车险能在这买不", "我想买个车险", "汽车保险有没有"]
PENSION = ["养老金怎么领", "退休金能领多少", "养老金每个月能领多少钱"]
OTHER = ["惠民保能买吗", "社保断缴了怎么办"]


@pytest.mark.parametrize("raw, masked", [
    ("我手机13812345678能买吗", "我手机[手机号]能买吗"),
    ("保单号P2026012345678 什么时候生效呀", "保单号[编号] 什么时候生效呀"),
    ("我叫张建国，住北京市朝阳区建国路88号院3号楼", "我叫[姓名]，住北京市朝阳区[地址]"),
    ("+86 138 1234 5678 回电", "[手机号] 回电"),
    ("身份证110101199003074514怎么填", "身份证[身份证号]怎么填"),
    ("身份证号11010119900307451x", "身份证号[身份证号]"),
    ("卡号6222021234567890123扣款失败", "卡号[银行卡号]扣款失败"),
    ("座机021-66668888", "座机[电话]"),
    ("发到 zhang.san@example.com", "发到 [邮箱]"),
    ("百万医疗险等待期30天保额300万", "百万医疗险等待期30天保额300万"),
])
def test_masking(raw, masked):
    assert unanswered.redact_question(raw) == masked


def test_record_masks_and_groups_by_meaning(state, encoder):
    for n, q in enumerate(CAR + PENSION + OTHER + ["我的手机号13812345678 能改绑吗"]):
        unanswered.record(state.engine, q, sender_id=f"u{n}", reason="foreign_term")
    items = unanswered.open_items(state.engine)
    assert all("13812345678" not in r.question for r in items)
    assert all(r.sender_hash and not r.sender_hash.startswith("u") for r in items)
    groups = unanswered.group_questions(items, encoder)
    by_question = {q: n for n, g in enumerate(groups) for q in g.questions}
    assert len({by_question[q] for q in CAR}) == 1, [g.questions for g in groups]
    assert len({by_question[q] for q in PENSION}) == 1, [g.questions for g in groups]
    assert len({by_question[q] for q in [CAR[0], PENSION[0], *OTHER]}) == 2 + len(OTHER)  # near topics stay apart


def test_attach_and_new_faq_in_one_action(settings, encoder, knowledge_index):
    state = make_state(settings, encoder=encoder, index=knowledge_index)
    tokens = add_users(state)
    state.kb.ensure_seeded()
    client = TestClient(create_app(settings, state=state))
    client.cookies.set(SESSION_COOKIE, tokens["editor"])
    # the action server reports misses on the machine endpoint, no session
    anon = TestClient(create_app(settings, state=state))
    for n, q in enumerate(CAR + ["保单号P2026012345678 什么时候生效呀"]):
        assert anon.post("/api/unanswered", json={"question": q, "sender_id": f"wx{n}", "reason": "foreign_term"}
                         ).status_code == 202
    assert anon.post("/api/unanswered", json={"question": CAR[0], "sender_id": "wx0"}).json() == {"stored": False}

    groups = client.get("/api/unanswered/groups").json()["groups"]
    car = next(g for g in groups if CAR[0] in g["questions"])
    assert car["count"] == len(CAR)
    effective = next(g for g in groups if "[编号]" in g["representative"])
    assert effective["suggestion"]["faq_id"] == "faq.purchase.effective_date"

    # one click: attach the group to the suggested FAQ as similar questions (draft)
    resp = client.post("/api/unanswered/attach", json={"ids": effective["ids"], "faq_id": "faq.purchase.effective_date"})
    assert resp.status_code == 200
    draft = state.kb.draft_version_id()
    similar = json.loads(state.kb.document(draft, faq_key("faq.purchase.effective_date")))["similar"]
    assert "保单号[编号] 什么时候生效呀" in similar

    # one action: a new FAQ from the car-insurance group, its questions as similar questions
    resp = client.post("/api/unanswered/new-faq", json={
        "ids": car["ids"], "faq_id": "faq.product.car_insurance", "question": "你们卖车险吗？",
        "answer": "我们目前不销售车险，可以了解百万医疗险、综合意外险等产品。"})
    assert resp.status_code == 201, resp.text
    faq = json.loads(state.kb.document(state.kb.draft_version_id(), faq_key("faq.product.car_insurance")))
    assert set(CAR) <= set(faq["similar"])
    assert client.get("/api/unanswered/groups").json()["groups"] == []  # all resolved
    admin = TestClient(client.app)
    admin.cookies.set(SESSION_COOKIE, tokens["admin"])
    actions = [e["action"] for e in admin.get("/api/audit").json()["entries"]]
    assert {"unanswered.attach", "unanswered.new_faq"} <= set(actions)
    # a bad target answers with a reason, changes nothing
    unanswered.record(state.engine, "第三个问题", sender_id="x")
    item = unanswered.open_items(state.engine)[0]
    assert client.post("/api/unanswered/attach", json={"ids": [item.id], "faq_id": "faq.nope"}).status_code == 404
    assert client.post("/api/unanswered/dismiss", json={"ids": [item.id]}).json() == {"dismissed": 1}
