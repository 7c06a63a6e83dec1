"""Run by test_rasa_venv.py with .venv-rasa/bin/python (Rasa 3.6, SQLAlchemy 1.4): the real event broker
and SQLTrackerStore through a conversation whose third turn erases the user, as action_delete_my_data does.

Prints one JSON object; assertions here make the process exit non-zero with the reason.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys

from sqlalchemy import create_engine, select

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.utils.endpoints import EndpointConfig

from common.settings import REPO_ROOT, load_settings
from ops.audit import SystemActor
from storage.db import get_engine
from transcripts import retention
from transcripts.crypto import KeyConfigError, KeyRing
from transcripts.erasure import CHAT_ACTOR, erase_user
from transcripts.store import TranscriptStore, Turn
from transcripts.tracker_events import events as events_table

PHONE = "13812345678"
DONE = "已为您删除聊天记录"


def turn(tracker, user_text, intent, action, bot_text):
    tracker.update(UserUttered(user_text, intent={"name": intent, "confidence": 0.99}))
    tracker.update(ActionExecuted(action))
    tracker.update(BotUttered(bot_text))
    tracker.update(ActionExecuted("action_listen"))


async def conversation(tracker_path: str) -> dict:
    broker = await EventBroker.create(EndpointConfig(type="transcripts.broker.TranscriptEventBroker"))
    assert type(broker).__name__ == "TranscriptEventBroker", type(broker)
    assert broker.is_ready()
    store = SQLTrackerStore(Domain.load(str(REPO_ROOT / "domain.yml")), dialect="sqlite", db=tracker_path,
                            event_broker=broker)
    for sender in ("alice", "bob"):
        tracker = await store.get_or_create_tracker(sender)
        turn(tracker, f"我叫张三 手机{PHONE}", "inform", "utter_clarify", "收到～请问您想咨询什么？")
        await store.save(tracker)
    tracker = await store.get_or_create_tracker("alice")
    turn(tracker, "删除我的聊天记录", "delete_my_data", "utter_confirm_delete_data", "确认要删除吗？")
    await store.save(tracker)
    assert broker.recorder.flush(10)

    # turn 3: "确认" -> action_delete_my_data runs while Rasa holds this tracker in memory
    tracker = await store.get_or_create_tracker("alice")
    tracker.update(UserUttered("确认", intent={"name": "affirm", "confidence": 0.99}))
    settings = load_settings()
    app = get_engine(settings.app_database_url)
    tracker_engine = create_engine(f"sqlite:///{tracker_path}")
    result = erase_user(app, tracker_engine, "alice", actor=CHAT_ACTOR, keep_tracker_events=len(tracker.events))
    tracker.update(ActionExecuted("action_delete_my_data"))
    tracker.update(BotUttered(DONE))
    tracker.update(ActionExecuted("action_listen"))
    await store.save(tracker)                      # Rasa saves the end of the turn
    tracker = await store.get_or_create_tracker("alice")
    turn(tracker, "你好", "greet", "utter_greet", "您好")
    await store.save(tracker)
    assert broker.recorder.flush(10)
    await broker.close()

    with tracker_engine.connect() as conn:
        rows = conn.execute(select(events_table).order_by(events_table.c.id)).all()
    alice = [json.loads(r.data) for r in rows if r.sender_id == "alice"]
    bob = [json.loads(r.data) for r in rows if r.sender_id == "bob"]
    alice_text = json.dumps(alice, ensure_ascii=False)
    assert PHONE not in alice_text and "删除我的聊天记录" not in alice_text and "确认" not in alice_text, alice_text
    kinds = [(e["event"], e.get("text") or e.get("name")) for e in alice if e["event"] != "reset_slots"]
    assert kinds == [("action", "action_delete_my_data"), ("bot", DONE), ("action", "action_listen"),
                     ("user", "你好"), ("action", "utter_greet"), ("bot", "您好"), ("action", "action_listen")], kinds
    assert PHONE in json.dumps(bob, ensure_ascii=False)
    full = await store.retrieve_full_tracker("alice")   # Rasa can still load the conversation
    assert full is not None and full.latest_message.text == "你好"

    ring = KeyRing.from_settings(settings)
    transcripts = TranscriptStore(app, ring)
    alice_turns = [(t["role"], t["text"]) for t in transcripts.read("alice")]
    bob_turns = [(t["role"], t["text"]) for t in transcripts.read("bob")]
    assert alice_turns == [("bot", DONE), ("user", "你好"), ("bot", "您好")], alice_turns
    assert bob_turns[0] == ("user", "我叫张* 手机138****5678"), bob_turns
    return {"erased": result.counts, "alice_events": len(alice), "alice_turns": alice_turns,
            "bob_turns": len(bob_turns), "key_usage": transcripts.key_usage()}


def store_on_sqlalchemy_14() -> dict:
    """Store, rotation and purge under SQLAlchemy 1.4 (the Rasa process's version)."""
    import sqlalchemy

    assert sqlalchemy.__version__.startswith("1.4"), sqlalchemy.__version__
    settings = load_settings()
    app = get_engine(settings.app_database_url)
    old = TranscriptStore(app, KeyRing.from_value(os.environ["OLD_KEY"]))
    old.add([Turn("carol", "user", f"旧钥匙 {i}", 1000.0 + i) for i in range(5)])
    report = TranscriptStore(app, KeyRing.from_settings(settings)).rotate(batch_size=2)
    assert (report.rotated, report.failed, report.remaining) == (5, 0, 0), report
    purged = retention.purge(app, None, retention_days=1, actor=SystemActor(), now=1000.0 + 2 * 86400)
    assert purged["counts"]["transcript_turns"] == 5, purged
    return {"rotated": report.rotated, "purged": purged["counts"]["transcript_turns"]}


def refuses_without_keys_in_production() -> bool:
    os.environ.update({"INSUREBOT_ENV": "production", "TRANSCRIPT_KEYS": ""})
    try:
        asyncio.run(EventBroker.create(EndpointConfig(type="transcripts.broker.TranscriptEventBroker")))
    except KeyConfigError:
        return True
    return False


if __name__ == "__main__":
    out = {"conversation": asyncio.run(conversation(sys.argv[1])), "sqlalchemy14": store_on_sqlalchemy_14(),
           "production_refused": refuses_without_keys_in_production()}
    assert out["production_refused"]
    print(json.dumps(out, ensure_ascii=False))
