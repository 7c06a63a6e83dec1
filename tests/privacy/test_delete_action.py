"""action_delete_my_data with rasa-sdk's CollectingDispatcher and Tracker, on the databases the settings name."""
from __future__ import annotations

import asyncio

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import create_engine

from actions.delete_data import DONE, FAILED, HELD, ActionDeleteMyData
from ops import audit
from ops.audit import SystemActor
from storage.db import get_engine, metadata
from transcripts import holds
from transcripts.tracker_events import tracker_metadata

from .conftest import Dbs
from .seed import NOTHING, SEEDED, counts, seed_user

ALICE, BOB = "oAlice-openid-0001", "oBob-openid-000002"


def settings_dbs(tmp_path) -> Dbs:
    """The databases load_settings() points at for INSUREBOT_VAR_DIR=tmp/var (set by conftest)."""
    var = tmp_path / "var"
    app = get_engine(f"sqlite:///{var / 'app.db'}")
    metadata.create_all(app)
    tracker = create_engine(f"sqlite:///{var / 'tracker.db'}")
    tracker_metadata.create_all(tracker)
    return Dbs(app, tracker, "sqlite")


def run(sender: str, n_events: int = 6):
    events = [{"event": "action", "name": "action_listen"}] + [
        {"event": "user", "text": "删除我的聊天记录", "parse_data": {"intent": {"name": "delete_my_data"}}},
        {"event": "bot", "text": "确认要删除…"}, {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "确认", "parse_data": {"intent": {"name": "affirm"}}},
        {"event": "action", "name": "action_listen"}][: n_events - 1]
    tracker = Tracker(sender_id=sender, slots={}, latest_message={"text": "确认", "intent": {"name": "affirm"}},
                      events=events, paused=False, followup_action=None, active_loop={},
                      latest_action_name="action_listen")
    dispatcher = CollectingDispatcher()
    result = asyncio.run(ActionDeleteMyData().run(dispatcher, tracker, {}))
    return [m["text"] for m in dispatcher.messages], result


def test_confirmed_deletion_erases_the_sender_and_confirms(tmp_path, ring):
    dbs = settings_dbs(tmp_path)
    seed_user(dbs, ring, ALICE, 1_750_000_000.0)
    seed_user(dbs, ring, BOB, 1_750_000_000.0)
    texts, events = run(ALICE, n_events=6)
    assert texts == [DONE]
    assert events == [{"event": "reset_slots", "timestamp": None}]
    assert counts(dbs, ALICE) == {**NOTHING, "tracker_events": 6}    # 6 neutral events keep Rasa's count right
    assert counts(dbs, BOB) == SEEDED
    entry = audit.entries(dbs.app)[0]
    assert entry["action"] == "privacy.erase" and entry["detail"]["source"] == "chat" and ALICE not in str(entry)


def test_held_user_is_told_and_nothing_is_deleted(tmp_path, ring):
    dbs = settings_dbs(tmp_path)
    seed_user(dbs, ring, ALICE, 1_750_000_000.0)
    holds.set_hold(dbs.app, ALICE, "监管调取", SystemActor("admin1", "admin"))
    texts, events = run(ALICE)
    assert texts == [HELD] and events == []
    assert counts(dbs, ALICE) == SEEDED


def test_database_down_tells_the_user_and_does_not_raise(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nothing")
    texts, events = run(ALICE)
    assert texts == [FAILED] and events == []


def test_the_action_is_in_the_domain_and_rules():
    """The flow is wired: the domain lists the action and responses; rules ask first, then delete or not."""
    import yaml

    from common.settings import REPO_ROOT

    domain = yaml.safe_load((REPO_ROOT / "domain.yml").read_text(encoding="utf-8"))
    assert "action_delete_my_data" in domain["actions"]
    assert {"utter_confirm_delete_data", "utter_delete_data_cancelled"} <= set(domain["responses"])
    payloads = [b["payload"] for b in domain["responses"]["utter_confirm_delete_data"][0]["buttons"]]
    assert payloads == ["/affirm", "/deny"]
    rules = yaml.safe_load((REPO_ROOT / "bot" / "data" / "rules.yml").read_text(encoding="utf-8"))["rules"]
    steps = [[next(iter(s.items())) for s in r["steps"]] for r in rules]
    assert [("intent", "delete_my_data"), ("action", "utter_confirm_delete_data")] in steps
    assert [("action", "utter_confirm_delete_data"), ("intent", "affirm"), ("action", "action_delete_my_data")] in steps
    assert [("action", "utter_confirm_delete_data"), ("intent", "deny"),
            ("action", "utter_delete_data_cancelled")] in steps
    for s in steps:     # deleting is only ever the answer to the confirmation question
        if ("action", "action_delete_my_data") in s:
            assert s[0] == ("action", "utter_confirm_delete_data") and s[1] in (("intent", "affirm"),
                                                                                ("intent", "delete_my_data"))
