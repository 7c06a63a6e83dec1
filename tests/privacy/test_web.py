"""The web service side: admin-only privacy API (holds, purge, status), the start-up key check, the
periodic purge worker, and agent replies from the hand-off service into the encrypted transcripts."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from handoff.hours import ServiceHours
from handoff.service import AgentInfo, HandoffService
from handoff.store import HandoffStore
from ops import audit
from transcripts.crypto import KeyConfigError, KeyRing
from transcripts.store import TranscriptStore
from web import privacy_runtime
from web.auth import ROLES, SESSION_COOKIE, create_user
from web.main import create_app

from tests.ops.conftest import add_users, make_state, ops_settings

ROUTES = [("GET", "/api/privacy/holds", None), ("POST", "/api/privacy/holds", {"user_id": "oX-000000001", "reason": "r"}),
          ("DELETE", "/api/privacy/holds/oNobody", None), ("POST", "/api/privacy/purge", None),
          ("GET", "/api/privacy/status", None)]


@pytest.fixture
def app_state(tmp_path):
    state = make_state(ops_settings(tmp_path / "var"))
    yield state
    privacy_runtime.stop(SimpleNamespace(state=SimpleNamespace(app_state=state)))


@pytest.fixture
def client_for(app_state):
    tokens = add_users(app_state)
    app = create_app(app_state.settings, state=app_state)     # no lifespan: no index build

    def client(role):
        return TestClient(app, cookies={SESSION_COOKIE: tokens[role]} if role else {})
    return client


@pytest.mark.parametrize("who", [None, *ROLES])
def test_privacy_api_is_admin_only(client_for, who):
    client = client_for(who)
    for method, path, body in ROUTES:
        status = client.request(method, path, json=body).status_code
        if who == "admin":
            assert status not in (401, 403), (method, path)
        else:
            assert status == (401 if who is None else 403), (method, path, who)


def test_holds_purge_and_status_over_the_api(client_for, app_state):
    admin = client_for("admin")
    resp = admin.post("/api/privacy/holds", json={"user_id": "oCase-user-00001", "reason": "诉讼保全"})
    assert resp.status_code == 201 and resp.json()["user_masked"] == "oCas****0001"
    subject = resp.json()["subject"]
    assert "oCase-user-00001" not in admin.get("/api/privacy/holds").text
    assert admin.get("/api/privacy/holds").json()["holds"][0]["subject"] == subject
    assert admin.post("/api/privacy/holds", json={"user_id": " ", "reason": "x"}).status_code == 422
    assert admin.delete(f"/api/privacy/holds/{subject}").json() == {"cleared": True}
    assert admin.delete(f"/api/privacy/holds/{subject}").status_code == 404
    purged = admin.post("/api/privacy/purge").json()
    assert purged["retention_days"] == 180 and "transcript_turns" in purged["counts"]
    status = admin.get("/api/privacy/status").json()
    assert status["active_key"] == "dev-only" and status["development_key"] is True
    actions = [e["action"] for e in audit.entries(app_state.engine)]
    assert actions[:3] == ["privacy.purge", "privacy.hold.clear", "privacy.hold.set"]
    assert audit.entries(app_state.engine)[0]["actor"] == "admin1"


def test_web_refuses_to_start_without_keys_outside_development(tmp_path):
    state = make_state(ops_settings(tmp_path / "var", INSUREBOT_ENV="production"))
    with pytest.raises(KeyConfigError):
        privacy_runtime.start(SimpleNamespace(state=SimpleNamespace(app_state=state)))


def test_purge_worker_runs_once_per_interval_across_replicas(app_state):
    one = privacy_runtime.PurgeWorker(app_state, interval_s=3600)
    two = privacy_runtime.PurgeWorker(app_state, interval_s=3600)
    assert one.tick() and not two.tick() and not one.tick()
    assert [e["action"] for e in audit.entries(app_state.engine)] == ["privacy.purge"]
    started = privacy_runtime.PurgeWorker(app_state, interval_s=0.2, check_s=0.05, first_delay_s=0).start()
    try:
        import time
        deadline = time.monotonic() + 10
        while started.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        started.stop()
    assert started.runs >= 1


class _Delivery:
    def send(self, channel, conversation_id, text, open_kfid=None):
        return "sent"


def test_agent_replies_are_recorded_encrypted(app_state):
    engine = app_state.engine
    agent = create_user(engine, "agent-x", "agent-pass-123", "agent", display_name="小王")
    service = HandoffService(
        store=HandoffStore(engine), hours=ServiceHours.parse("00:00-23:59"), rasa=None, delivery=_Delivery(),
        notifier=SimpleNamespace(configured=False),
        directory=SimpleNamespace(by_id=lambda i: AgentInfo(i, "小王"), by_wecom=lambda w: None),
        turn_sink=privacy_runtime.turn_sink(app_state))
    try:
        row, _ = service.store.create(conversation_id="oUser-hand-0001", channel="rest", reason="request_human",
                                      skill="sales", card={}, status="queued")
        service.store.ensure_agent(agent.id)
        assert service.store.assign(row.id, agent.id, respect_capacity=False)
        service.agent_reply(row.id, agent.id, "您好，我是客服小王，已记下您的电话13912345678")
        service.agent_reply(row.id, agent.id, "还有其他问题吗？")
        assert privacy_runtime.recorder_for(app_state).flush(10)
        turns = TranscriptStore(engine, KeyRing.development()).read("oUser-hand-0001")
        assert [t["role"] for t in turns] == ["agent", "agent"]
        assert "139****5678" in turns[0]["text"] and "13912345678" not in turns[0]["text"]

        def broken(*args):
            raise RuntimeError("transcripts down")
        service.turn_sink = broken                     # a broken transcript path never breaks the reply
        assert service.agent_reply(row.id, agent.id, "仍然可以回复")[1] == "sent"
    finally:
        service.close()
