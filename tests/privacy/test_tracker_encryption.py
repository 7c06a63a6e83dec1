"""Rasa's tracker store encrypted at rest: our store (in .venv-rasa, loaded by Rasa's own factory) seals each
event's data with SM4-GCM bound to the sender; the raw table holds no user text; older plain rows still read;
a row moved to another conversation does not decrypt; key rotation re-seals the rows; analytics decrypt."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess

import pytest
from sqlalchemy import create_engine

from common.settings import REPO_ROOT
from ops.analytics import read_events
from tests.privacy.conftest import K1, K2
from transcripts.crypto import KeyRing
from transcripts.tracker_events import reseal

RASA_PYTHON = REPO_ROOT / ".venv-rasa" / "bin" / "python"
PHONE = "13812345678"

FLOW = r'''
import asyncio, json, sqlite3, sys
from rasa.core.tracker_store import FailSafeTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered, BotUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

path, phone = sys.argv[1], sys.argv[2]
domain = Domain.from_yaml("version: '3.1'\nslots:\n  phone:\n    type: text\n    mappings: []\n")
store = TrackerStore.create(EndpointConfig(url=f"sqlite:///{path}", type="connectors.rasa_stores.ResilientSQLTrackerStore"),
                            domain)

async def flow():
    tracker = DialogueStateTracker.from_events("alice", [UserUttered(f"我的手机号是{phone}"), SlotSet("phone", phone),
                                                         BotUttered("好的，已记下")], domain.slots)
    await store.save(tracker)
    back = await store.retrieve("alice")
    out = {"texts": [e.text for e in back.events if isinstance(e, (UserUttered, BotUttered))],
           "phone": back.get_slot("phone")}
    db = sqlite3.connect(path)
    # a row written before encryption (plain JSON) is still read
    db.execute("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, 'user', 1.0, ?)",
               ("legacy", json.dumps(UserUttered("老数据", {"name": "greet", "confidence": 1.0}, timestamp=1.0).as_dict())))
    # a sealed row of alice copied into bob's conversation
    db.execute("INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) "
               "SELECT 'bob', type_name, timestamp, intent_name, action_name, data FROM events WHERE sender_id = 'alice'")
    db.commit()
    out["legacy"] = [e.text for e in (await store.retrieve("legacy")).events if isinstance(e, UserUttered)]
    try:
        await store.retrieve("bob")
        out["moved"] = "read"
    except Exception as exc:
        out["moved"] = type(exc).__name__
    as_rasa_runs_it = FailSafeTrackerStore(store)                 # what the Agent wraps every store in
    out["moved_through_rasa"] = await as_rasa_runs_it.retrieve("bob")   # logged; the turn starts from no tracker
    out["alive_after"] = (await as_rasa_runs_it.retrieve("alice")).get_slot("phone") == phone
    print(json.dumps(out, ensure_ascii=False))

asyncio.run(flow())
'''


@pytest.fixture(scope="module")
def tracker_db(tmp_path_factory):
    if not RASA_PYTHON.exists():
        pytest.skip(".venv-rasa missing")
    path = tmp_path_factory.mktemp("tracker") / "tracker.db"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "RASA_TELEMETRY_ENABLED": "false",
           "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "INSUREBOT_ENV": "development", "TRANSCRIPT_KEYS": K1}
    proc = subprocess.run([str(RASA_PYTHON), "-c", FLOW, str(path), PHONE], env=env, capture_output=True,
                          text=True, timeout=180, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return path, json.loads(proc.stdout.strip().splitlines()[-1])


def raw_rows(path, sender: str) -> list:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT type_name, intent_name, data FROM events WHERE sender_id = ? ORDER BY id",
                          (sender,)).fetchall()


def test_rasa_reads_back_what_it_stored(tracker_db):
    _, out = tracker_db
    assert out["texts"] == [f"我的手机号是{PHONE}", "好的，已记下"] and out["phone"] == PHONE


def test_the_table_holds_no_user_text(tracker_db):
    path, _ = tracker_db
    rows = raw_rows(path, "alice")
    assert {r[0] for r in rows} >= {"user", "slot", "bot"}
    assert all(r[2].startswith("sm4gcm1.k1.") for r in rows), rows
    dump = json.dumps(rows, ensure_ascii=False)
    assert PHONE not in dump and "手机号" not in dump and "已记下" not in dump


def test_plain_rows_of_older_versions_still_read(tracker_db):
    assert tracker_db[1]["legacy"] == ["老数据"]


def test_a_row_moved_to_another_conversation_does_not_decrypt(tracker_db):
    out = tracker_db[1]
    assert out["moved"] == "TrackerDecryptionError"
    assert out["moved_through_rasa"] is None and out["alive_after"]     # Rasa keeps serving


def test_rotation_reseals_every_row_and_analytics_decrypt(tracker_db, tmp_path):
    path, _ = tracker_db
    copy = tmp_path / "copy.db"
    with sqlite3.connect(path) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    engine = create_engine(f"sqlite:///{copy}")
    new_ring = KeyRing.from_value(f"{K2},{K1}")
    report = reseal(engine, new_ring, batch=2)
    # alice's rows and the legacy plain row are re-sealed under k2; bob's moved rows cannot be and stay
    alice = raw_rows(copy, "alice")
    assert report["rotated"] == len(alice) + 1 and report["failed"] == len(raw_rows(copy, "bob"))
    assert report["remaining"] == report["failed"]
    assert all(r[2].startswith("sm4gcm1.k2.") for r in alice + raw_rows(copy, "legacy"))
    assert reseal(engine, new_ring)["rotated"] == 0                    # idempotent
    rows = read_events(engine, 0.0, new_ring)
    texts = [json.loads(r[5])["text"] for r in rows if r[0] == "alice" and r[1] == "user"]
    assert texts == [f"我的手机号是{PHONE}"]
    assert [r[5] for r in rows if r[0] == "bob"] == [None] * len([r for r in rows if r[0] == "bob"])
    without_keys = read_events(engine, 0.0, None)
    assert all(r[5] is None for r in without_keys if r[0] == "alice")
