"""HandoffService in-process with an injected clock, against the real Rasa of the test stack and the
fake WeChat/WeCom servers: service hours, routing + fairness, WeCom kf, idle timeouts, re-pausing."""
from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from connectors.kvstore import SqliteStore
from handoff.delivery import ChannelDelivery, WeComAgentNotifier
from handoff.hours import BEIJING, ServiceHours
from handoff.rasa_client import PAUSE_EVENTS, RasaClient
from handoff.service import HandoffConfig, HandoffError, HandoffService
from handoff.store import ACTIVE, CALLBACK, ENDED, QUEUED, HandoffStore
from web.auth import create_user
from web.handoff_runtime import UserDirectory

from .conftest import AGENT_ID, AGENT_SECRET, APP_ID, APP_SECRET, CORP_ID, sqlite_engine, unique, wait_until

pytestmark = pytest.mark.timeout(300)
KF_SECRET, OPEN_KFID = "handoff-kf-secret", "wkHANDOFFKF01"


class Clock:
    def __init__(self, when: datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def env(hstack, tmp_path):
    hs = hstack
    hs.platform.add_corp(CORP_ID, kf_secret=KF_SECRET, agent_secret=AGENT_SECRET, agent_id=AGENT_ID)
    environ = {"WECHAT_TOKEN": "t", "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
               "WECHAT_API_BASE_URL": hs.platform.base_url, "WECOM_CORP_ID": CORP_ID, "WECOM_KF_SECRET": KF_SECRET,
               "WECOM_OPEN_KFID": OPEN_KFID, "WECOM_API_BASE_URL": hs.platform.base_url,
               "WECOM_AGENT_SECRET": AGENT_SECRET, "WECOM_AGENT_ID": str(AGENT_ID)}
    engine = sqlite_engine(tmp_path)
    kv = SqliteStore(tmp_path / "kv.sqlite3")
    clock = Clock(datetime(2025, 3, 10, 10, 0, tzinfo=BEIJING))
    service = HandoffService(
        store=HandoffStore(engine, clock=clock, default_capacity=3), hours=ServiceHours.parse("09:00-22:00"),
        rasa=RasaClient(hs.rasa), delivery=ChannelDelivery(kv, environ), notifier=WeComAgentNotifier(kv, environ),
        directory=UserDirectory(engine), clock=clock,
        config=HandoffConfig(idle_s=1800, message_window_s=600, rating_window_s=600, public_url="https://kf.example.cn"))
    yield hs, service, clock, engine
    service.close()
    kv.close()


def make_agent(engine, service, name, status="online", skills=None, wecom=None):
    user = create_user(engine, unique(name), "agent-pass-123", "agent", display_name=name, wecom_userid=wecom)
    service.store.set_agent_status(user.id, status)
    if skills:
        service.store.set_agent_skills(user.id, skills)
    return user.id


def conversation(hs, cid: str, channel_text: str = "你好") -> None:
    """A real Rasa conversation that just ran the escalation action (what the action server would leave)."""
    hs.rest(cid, channel_text)
    hs.http.post(f"{hs.rasa}/conversations/{cid}/tracker/events",
                 json=[{"event": "action", "name": "action_escalate_to_agent"}]).raise_for_status()


def escalate(service, hs, cid, channel="rest", reason="request_human", skill="sales"):
    conversation(hs, cid)
    result = service.escalate(conversation_id=cid, channel=channel, reason=reason,
                              card={"skill": skill, "turns": [{"role": "user", "text": "转人工"}]})
    if result.pause:       # the action returns these events; here we post them like Rasa would apply them
        hs.http.post(f"{hs.rasa}/conversations/{cid}/tracker/events", json=PAUSE_EVENTS).raise_for_status()
    return result


def test_outside_hours_a_callback_ticket_then_live_next_morning(env):
    hs, service, clock, engine = env
    make_agent(engine, service, "早班")
    clock.now = datetime(2025, 3, 10, 23, 30, tzinfo=BEIJING).timestamp()
    cid = unique("night")
    result = escalate(service, hs, cid)
    assert result.status == CALLBACK and not result.pause
    assert "09:00-22:00" in result.message and "明天09:00" in result.message and f"#{result.handoff_id}" in result.message
    assert hs.tracker(cid)["paused"] is False
    hs.rest(cid, "我的问题是保单地址要改")
    assert service.relay_once() == 1
    assert [m.text for m in service.store.messages(result.handoff_id)] == ["我的问题是保单地址要改"]
    again = escalate(service, hs, cid)                     # still night: same ticket
    assert again.handoff_id == result.handoff_id and "已登记" in again.message
    clock.now = datetime(2025, 3, 11, 10, 0, tzinfo=BEIJING).timestamp()
    morning = escalate(service, hs, cid)
    assert morning.handoff_id == result.handoff_id and morning.status == ACTIVE and morning.pause
    assert "已为您接通人工客服【早班】" in morning.message
    assert service.end(result.handoff_id, reason="agent") is not None


def test_twenty_simultaneous_escalations_three_agents_fair_and_fifo(env):
    hs, service, clock, engine = env
    agents = [make_agent(engine, service, f"坐席{i}") for i in range(3)]
    cids = [unique("burst") for _ in range(20)]
    for cid in cids:
        conversation(hs, cid)
    results = []
    for cid in cids:
        clock.now += 0.01
        results.append(service.escalate(conversation_id=cid, channel="rest", reason="request_human",
                                        card={"skill": "sales"}))
    assert len({r.handoff_id for r in results}) == 20
    active = service.store.list([ACTIVE])
    assert Counter(r.agent_id for r in active) == {a: 3 for a in agents}
    queued = service.store.list([QUEUED])
    assert [r.conversation_id for r in queued] == cids[9:]          # FIFO
    assert [r.position for r in results[9:]] == list(range(11))
    served = Counter(r.agent_id for r in active)
    while service.store.list([ACTIVE]):
        clock.now += 30
        oldest = min(service.store.list([ACTIVE]), key=lambda r: r.assigned_at)
        service.end(oldest.id, reason="agent", by=oldest.agent_id)
        newly = [r for r in service.store.list([ACTIVE]) if r.assigned_at == clock.now]
        served.update(r.agent_id for r in newly)
    assert sum(served.values()) == 20 and not service.store.list([QUEUED])
    assert max(served.values()) - min(served.values()) <= 1, served
    service.drain()


def test_agent_notified_in_wecom_with_the_card(env):
    hs, service, clock, engine = env
    wecom = unique("notify")
    make_agent(engine, service, "小郑", wecom=wecom)
    result = escalate(service, hs, unique("notify-user"), reason="complaint", skill="complaints")
    service.drain()
    sent = [m for m in hs.platform.agent_messages if m["touser"] == wecom]
    assert [m["msgtype"] for m in sent] == ["textcard", "text"]
    assert sent[0]["textcard"]["title"] == f"新的转人工 #{result.handoff_id}｜用户投诉"
    assert sent[0]["textcard"]["url"] == f"https://kf.example.cn/agent/?h={result.handoff_id}"
    assert "#结束" in sent[1]["text"]["content"]
    assert service.store.get(result.handoff_id).notified_at is not None
    service.end(result.handoff_id, reason="agent")


def test_wecom_kf_user_moves_natively_to_the_agent_and_back(env):
    hs, service, clock, engine = env
    wecom = unique("kfagent")
    agent = make_agent(engine, service, "小冯", wecom=wecom)
    user = "wm" + unique("kf").replace("-", "")
    hs.platform.customer_sends(OPEN_KFID, user, "转人工")        # opens WeCom's 48-hour window
    hs.platform.set_kf_state(OPEN_KFID, user, 1)
    result = escalate(service, hs, user, channel="wecom_kf")
    assert result.status == ACTIVE and result.delivered          # the service sent it before the transfer
    assert hs.platform.kf_texts_to(user)[-1].startswith("已为您接通人工客服【小冯】")
    assert hs.platform.kf_transitions[-1] == {"open_kfid": OPEN_KFID, "external_userid": user,
                                              "service_state": 3, "servicer_userid": wecom}
    with pytest.raises(HandoffError) as info:
        service.agent_reply(result.handoff_id, agent, "你好")
    assert info.value.status == 409 and "企业微信" in info.value.message
    clock.now += 45 * 60                                           # no idle end: the chat runs in WeCom
    assert service.sweep_once()["kf_native"] == 0 and service.store.get(result.handoff_id).status == ACTIVE
    hs.platform.set_kf_state(OPEN_KFID, user, 4)                   # the agent ended it in WeCom
    assert service.sweep_once()["kf_native"] == 1
    row = service.store.get(result.handoff_id)
    assert row.status == ENDED and row.end_reason == "kf_native"
    assert hs.tracker(user)["paused"] is False
    service.drain()
    assert any("已在企业微信中结束" in m["text"]["content"] for m in hs.platform.agent_messages
               if m["touser"] == wecom and m["msgtype"] == "text")


def test_wecom_kf_end_from_the_console_hands_the_session_back_to_the_bot(env):
    hs, service, clock, engine = env
    agent = make_agent(engine, service, "小陈", wecom=unique("kfagent2"))
    user = "wm" + unique("kf2").replace("-", "")
    hs.platform.customer_sends(OPEN_KFID, user, "转人工")
    result = escalate(service, hs, user, channel="wecom_kf")
    service.end(result.handoff_id, reason="agent", by=agent)
    assert hs.platform.kf_transitions[-1]["service_state"] == 1
    assert "1-5" in hs.platform.kf_texts_to(user)[-1]


def test_idle_hand_off_ends_after_30_minutes_and_asks_for_a_rating(env):
    hs, service, clock, engine = env
    wecom = unique("idle")
    make_agent(engine, service, "小褚", wecom=wecom)
    openid = "o" + unique("idle").replace("-", "")
    hs.platform.user_interacted(openid)
    result = escalate(service, hs, openid, channel="wechat")
    assert hs.tracker(openid)["paused"] is True
    clock.now += 29 * 60
    assert service.sweep_once()["idle"] == 0
    hs.rest(openid, "在吗")                                  # a user message restarts the idle clock
    service.relay_once()
    clock.now += 29 * 60
    assert service.sweep_once()["idle"] == 0
    clock.now += 2 * 60
    assert service.sweep_once()["idle"] == 1
    row = service.store.get(result.handoff_id)
    assert row.status == ENDED and row.end_reason == "idle"
    assert hs.tracker(openid)["paused"] is False
    assert any("30分钟没有新消息" in t for t in hs.platform.messages_to(openid))
    hs.rest(openid, "4")
    service.relay_once()
    assert service.store.get(result.handoff_id).rating == 4


def test_nobody_takes_a_queued_hand_off_it_becomes_a_callback(env):
    hs, service, clock, engine = env
    make_agent(engine, service, "忙碌的", status="busy")
    cid = unique("waiting")
    result = escalate(service, hs, cid)
    assert result.status == QUEUED and result.pause and "正在为您转接" in result.message
    clock.now += 31 * 60
    assert service.sweep_once()["callback"] == 1
    assert service.store.get(result.handoff_id).status == CALLBACK
    assert hs.tracker(cid)["paused"] is False
    assert "回访单" in service.store.messages(result.handoff_id)[-1].text


def test_a_conversation_rasa_unpaused_by_itself_is_paused_again(env):
    hs, service, clock, engine = env
    make_agent(engine, service, "小卫")
    cid = unique("restart")
    result = escalate(service, hs, cid)
    hs.http.post(f"{hs.rasa}/conversations/{cid}/tracker/events", json=[{"event": "restart"}]).raise_for_status()
    assert hs.tracker(cid)["paused"] is False
    clock.now += 10
    service.relay_once()
    assert hs.tracker(cid)["paused"] is True
    service.end(result.handoff_id, reason="agent")
    assert hs.tracker(cid)["paused"] is False
    service.relay_once()                                       # ended: no re-pause
    assert hs.tracker(cid)["paused"] is False


def test_agent_going_online_takes_the_queue(env):
    hs, service, clock, engine = env
    agent = make_agent(engine, service, "晚到的", status="busy", skills=["claims"])
    first = escalate(service, hs, unique("q1"), skill="claims")
    second = escalate(service, hs, unique("q2"), skill="sales")
    service.store.set_agent_status(agent, "online")
    assert service.dispatch() == [first.handoff_id]            # only the claims one matches the skill
    assert service.store.get(second.handoff_id).status == QUEUED
    service.claim(second.handoff_id, agent)                    # anyone may claim from the queue
    with pytest.raises(HandoffError):
        service.claim(second.handoff_id, agent + 1000)
    for hid in (first.handoff_id, second.handoff_id):
        service.end(hid, reason="agent")
    wait_until(lambda: not service._pending, message="background tasks")
