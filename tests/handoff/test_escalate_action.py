"""action_escalate_to_agent with rasa-sdk's CollectingDispatcher and Tracker, against the real web service
(real knowledge index for the suggested reply, real hand-off queue in its database)."""
from __future__ import annotations

import asyncio
import json

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.escalate import ActionEscalateToAgent, escalate
from handoff.store import HandoffStore, handoffs
from tests.helpers import free_port, serve_app
from web.auth import create_user

from .conftest import unique

PAUSED = [{"event": "active_loop", "name": None}, {"event": "slot", "name": "requested_slot", "value": None},
          {"event": "pause"}]


@pytest.fixture(scope="module")
def web(tmp_path_factory, knowledge_index):
    from common.settings import load_settings
    from web.main import create_app
    from web.state import AppState

    var = tmp_path_factory.mktemp("escalate-web")
    closed = free_port()      # no Rasa here: the relay's tracker reads fail quietly
    settings = load_settings({"INSUREBOT_VAR_DIR": str(var), "HANDOFF_SERVICE_HOURS": "00:00-24:00",
                              "RASA_URL": f"http://127.0.0.1:{closed}", "HANDOFF_POLL_S": "5"})
    state = AppState.create(settings)
    state.knowledge._index = knowledge_index
    state.start = lambda: None
    with serve_app(create_app(settings, state=state), free_port()) as url:
        yield url, state


@pytest.fixture
def web_url(web, monkeypatch):
    url, state = web
    monkeypatch.setenv("WEB_URL", url)
    from sqlalchemy import update

    from handoff.store import agents

    with state.engine.begin() as conn:
        conn.execute(update(agents).values(status="offline"))
    return state


def user(text, intent, confidence=0.9):
    return {"event": "user", "text": text, "timestamp": 1.0, "input_channel": "wechat",
            "parse_data": {"intent": {"name": intent, "confidence": confidence}}}


def make_tracker(sender, events, intent="request_human", active_loop=None, **slots):
    latest = {"text": events[-1]["text"], "intent": {"name": intent, "confidence": 0.97}, "entities": [],
              "metadata": {"nickname": "王小明"}}
    return Tracker(sender_id=sender, slots={"product": None, "knowledge_misses": 1.0, **slots},
                   latest_message=latest, events=events, paused=False, followup_action=None,
                   active_loop={"name": active_loop} if active_loop else {}, latest_action_name="action_listen")


def run(tracker, action=None):
    dispatcher = CollectingDispatcher()
    events = asyncio.run((action or ActionEscalateToAgent()).run(dispatcher, tracker, {}))
    return [m["text"] for m in dispatcher.messages], events


def stored(state, sender):
    with state.engine.connect() as conn:
        return conn.execute(select(handoffs).where(handoffs.c.conversation_id == sender)).one()


HISTORY = [user("百万医疗险等待期多久", "ask_question"), {"event": "bot", "text": "根据《百万医疗险条款》……等待期30日"},
           user("我叫王小明 手机13812345678 那我妈能买吗", "ask_question", 0.44), user("转人工", "request_human")]


def test_nobody_on_duty_callback_ticket_without_pause(web_url):
    sender = unique("o-action")
    messages, events = run(make_tracker(sender, HISTORY))
    assert "人工客服暂时都不在线" in messages[0] and "回访单" in messages[0]
    assert {"event": "pause"} not in events
    assert {"event": "slot", "name": "knowledge_misses", "value": 0.0, "timestamp": None} in events
    row = stored(web_url, sender)
    assert row.status == "callback" and row.channel == "wechat"
    card = json.loads(row.card)
    assert "13812345678" not in row.card and "王小明" not in row.card and card["nickname"] == "王**"
    assert card["suggestion"]["id"] == "faq.purchase.for_family" and "answerable" in card["suggestion"]
    assert card["intent"] == {"name": "request_human", "confidence": 0.97}


def test_agent_online_connects_and_pauses_ending_the_form(web_url):
    agent = create_user(web_url.engine, unique("act"), "agent-pass-123", "agent", display_name="小蒋")
    HandoffStore(web_url.engine).set_agent_status(agent.id, "online")
    sender = unique("o-live")
    messages, events = run(make_tracker(sender, HISTORY, intent="inform", active_loop="quote_form",
                                        quote_product="medical_million"))
    assert messages == ["已为您接通人工客服【小蒋】，请直接说明您的问题，客服会在这里回复您。"]
    assert [e for e in events if e["event"] != "slot" or e["name"] == "requested_slot"][-3:] == [
        {"event": "active_loop", "name": None, "timestamp": None},
        {"event": "slot", "name": "requested_slot", "value": None, "timestamp": None},
        {"event": "pause", "timestamp": None}]
    row = stored(web_url, sender)
    assert row.reason == "sale" and row.skill == "sales" and row.agent_id == agent.id and row.status == "active"
    # the same conversation escalating again gets the same hand-off
    again, _ = run(make_tracker(sender, HISTORY))
    assert again == messages
    HandoffStore(web_url.engine).end(row.id, reason="agent")


def test_complaints_route_to_the_complaints_skill_and_quotes_can_escalate_as_a_sale(web_url):
    sender = unique("o-complaint")
    run(make_tracker(sender, HISTORY + [user("你们服务太差了我要投诉", "complaint")], intent="complaint"))
    assert stored(web_url, sender).skill == "complaints"
    sender = unique("o-sale")
    dispatcher = CollectingDispatcher()
    asyncio.run(escalate(dispatcher, make_tracker(sender, HISTORY, intent="ask_quote"), reason="sale"))
    row = stored(web_url, sender)
    assert row.reason == "sale" and json.loads(row.card)["reason_label"] == "需人工办理的销售/核保"


def test_web_service_down_says_so_and_does_not_pause(monkeypatch):
    monkeypatch.setenv("WEB_URL", f"http://127.0.0.1:{free_port()}")
    messages, events = run(make_tracker(unique("o-down"), HISTORY))
    assert "转人工服务暂时出了点问题" in messages[0]
    assert all(e["event"] != "pause" for e in events)
