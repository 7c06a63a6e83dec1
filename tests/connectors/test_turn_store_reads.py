"""One tracker read per turn, and no COUNT before the save that follows a read (connectors/rasa_stores.py),
in the real Rasa venv on SQLite: the same operations on Rasa's own SQLTrackerStore and on ours leave the
same events in the database and stream the same events to the broker, with fewer statements."""
from __future__ import annotations

import json
import subprocess

import pytest

from common.settings import REPO_ROOT
from common.stack import RASA_PYTHON

FLOW = r'''
import asyncio, json, sys
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from connectors.rasa_stores import ResilientSQLTrackerStore, one_read_per_turn
from transcripts.crypto import KeyRing

class Broker:
    def __init__(self): self.published = []
    def publish(self, body): self.published.append((body["event"], body.get("text") or body.get("name")))

def statements(engine):
    seen = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2].split()[0].upper() + (" COUNT" if "count(" in a[2].lower() else "")))
    return seen

def turn(text, answer):
    return [ActionExecuted("action_listen"), UserUttered(text, {"name": "ask", "confidence": 1.0}),
            ActionExecuted("utter_x"), BotUttered(answer), ActionExecuted("action_listen")]

async def flow(store, tmp):
    domain = Domain.empty()
    broker = Broker()
    store.event_broker = broker
    seen = statements(store.engine)
    out = {}
    first = DialogueStateTracker.from_events("u1", turn("在吗", "在的"), domain.slots)
    await store.save(first)
    # a turn: the guard reads, Rasa reads again, appends, saves
    seen.clear()
    with one_read_per_turn():
        guard_view = await store.retrieve("u1")
        tracker = await store.retrieve("u1")
        out["same_object"] = tracker is guard_view
        for event in turn("犹豫期多久", "15天"):
            tracker.update(event)
        await store.save(tracker)
        # a second save of the same tracker object in the turn (more events): counted again, no duplicates
        tracker.update(BotUttered("还有问题吗"))
        await store.save(tracker)
    out["turn_statements"] = list(seen)
    # outside a turn scope every read goes to the database
    seen.clear()
    await store.retrieve("u1"); await store.retrieve("u1")
    out["reads_outside"] = sum(1 for s in seen if s == "SELECT")
    # a new session starts inside a turn: the saved events are the same as Rasa's
    tracker = await store.retrieve("u1")
    for event in [ActionExecuted("action_session_start"), SessionStarted(), *turn("你好", "您好")]:
        tracker.update(event)
    await store.save(tracker)
    full = await store.retrieve_full_tracker("u1")
    out["stored"] = [(e.type_name, getattr(e, "text", None) or getattr(e, "action_name", None)) for e in full.events]
    out["published"] = broker.published
    latest = await store.retrieve("u1")
    out["latest_session"] = [e.type_name for e in latest.events]
    return out

async def main(tmp):
    ours = ResilientSQLTrackerStore(Domain.empty(), dialect="sqlite", db=f"{tmp}/ours.db",
                                    keyring=KeyRing.from_settings(__import__("common.settings", fromlist=["x"]).load_settings()))
    rasas = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=f"{tmp}/rasa.db")
    return {"ours": await flow(ours, tmp), "rasa": await flow(rasas, tmp)}

print(json.dumps(asyncio.run(main(sys.argv[1])), ensure_ascii=False))
'''


def test_one_read_per_turn_and_no_count_before_saving_what_was_read(tmp_path):
    if not RASA_PYTHON.exists():
        pytest.skip(".venv-rasa missing")
    env = {"PYTHONPATH": str(REPO_ROOT), "RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin",
           "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "INSUREBOT_VAR_DIR": str(tmp_path)}
    proc = subprocess.run([str(RASA_PYTHON), "-c", FLOW, str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=180, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    ours, rasa = out["ours"], out["rasa"]
    # the same database contents and the same events streamed, new session included
    assert ours["stored"] == rasa["stored"] and len(ours["stored"]) == 5 + 5 + 1 + 7
    assert ours["published"] == rasa["published"] and len(ours["published"]) == len(ours["stored"])
    assert ours["latest_session"] == rasa["latest_session"] and ours["latest_session"][0] == "session_started"
    # one read for the guard and Rasa; the first save reuses the read's count, the second counts again
    turn = ours["turn_statements"]
    assert ours["same_object"] and not rasa["same_object"]
    assert turn.count("SELECT") == 1 and turn.count("SELECT COUNT") == 1, turn
    assert rasa["turn_statements"].count("SELECT") + rasa["turn_statements"].count("SELECT COUNT") > 4
    assert ours["reads_outside"] == 2
