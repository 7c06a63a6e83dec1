"""connectors/rasa_speedups.py in the real Rasa venv: the compiled action-response validator accepts and
rejects exactly what Rasa's own check does, with the same error message; the launcher is Rasa's CLI."""
from __future__ import annotations

import json
import subprocess

import pytest

from common.settings import REPO_ROOT
from common.stack import RASA_LAUNCHER, RASA_PYTHON

CHECK = r'''
import json
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from connectors import rasa_speedups

action = RemoteAction("action_answer_question", None)
original = RemoteAction._validate_action_result
responses = [
    {"events": [{"event": "slot", "name": "product", "value": "medical_million"}],
     "responses": [{"text": "等待期30天", "buttons": [{"title": "转人工", "payload": "/handoff"}]}]},
    {"events": [], "responses": []},
    {},
    {"events": "not a list", "responses": []},
    {"events": [{"no_event_key": 1}], "responses": []},
    {"events": [], "responses": "x"},
    {"events": [{"event": 3}], "responses": [{"text": 5}]},
]
# every event kind of Rasa's schema, valid and broken, one response each and all valid ones together
events = [
    {"event": "user", "text": "hi", "parse_data": {"intent": {"name": "greet", "confidence": 0.9},
     "entities": [{"entity": "province", "value": "广东", "start": 0, "end": 2}]}, "timestamp": 1.5},
    {"event": "user", "text": None, "input_channel": "wechat", "message_id": "m1"},
    {"event": "action", "name": "action_listen", "policy": None, "confidence": None, "hide_rule_turn": False},
    {"event": "slot", "name": "product", "value": None},
    {"event": "entities", "entities": []},
    {"event": "bot", "text": "您好", "data": {}, "metadata": {"utter_action": "utter_greet"}},
    {"event": "session_started"}, {"event": "restart"}, {"event": "followup", "name": "utter_greet"},
    {"event": "active_loop", "name": "quote_form"}, {"event": "reset_slots"}, {"event": "pause"},
    {"event": "resume"}, {"event": "undo"}, {"event": "rewind"}, {"event": "agent", "text": "x"},
    {"event": "form_validation", "validate": False}, {"event": "loop_interrupted", "is_interrupted": True},
    {"event": "reminder", "intent": "x"}, {"event": "cancel_reminder"}, {"event": "export"},
    {"event": "user_featurization", "use_text_for_featurization": False},
    {"event": "action_execution_rejected", "name": "x"}, {"event": "form", "name": "f"},
]
broken = [
    {"event": "user", "parse_data": {"entities": [{"entity": "x"}]}},
    {"event": "user", "parse_data": {"intent": {"name": 5}}},
    {"event": "action", "confidence": "high"}, {"event": "slot", "name": "a"}, {"event": "slot", "value": 1},
    {"event": "entities"}, {"event": "nope"}, {"event": 5}, {"event": []}, {"event": None}, {},
    "not an event", 7, {"event": "bot", "timestamp": "now"}, {"event": "bot", "metadata": []},
    {"event": "user", "text": 12},
]
responses += [{"events": [e], "responses": []} for e in events + broken]
responses += [{"events": events, "responses": [{"text": "ok"}, {}]}, {"events": events + broken[:1]},
              {"events": events, "responses": [{"text": "ok"}, "x"]}, {"responses": {}}, [], "x", None,
              {"events": None}, {"events": [], "responses": None}]

def outcome(method, response):
    try:
        return ["ok", method(action, response)]
    except ValidationError as exc:
        return ["error", exc.message, list(exc.absolute_path)]

before = [outcome(original, r) for r in responses]

from rasa.shared.core.events import Event, UserUttered
import rasa.shared.utils.common

def resolve(name, default=None):
    try:
        return getattr(Event.resolve_by_type(name, default), "__name__", None)
    except ValueError as exc:
        return "ValueError: " + str(exc)

names = sorted({c.type_name for c in rasa.shared.utils.common.all_subclasses(Event)}) + ["topic", "no_such_event"]
resolved_before = [resolve(n) for n in names] + [resolve("no_such_event", UserUttered)]
rasa_speedups.install()
rasa_speedups.install()            # idempotent
assert RemoteAction._validate_action_result is rasa_speedups._validate_action_result
after = [outcome(RemoteAction._validate_action_result, r) for r in responses]
plain = [rasa_speedups._plainly_valid(r) for r in responses]
resolved_after = [resolve(n) for n in names] + [resolve("no_such_event", UserUttered)]

import asyncio, gc
import rasa.core.run
assert rasa.core.run.load_agent_on_start.__wrapped__ is not None
async def fake_load(model_path):
    return {"agent": model_path, "big": [object() for _ in range(1000)]}
frozen_before = gc.get_freeze_count()
loaded = asyncio.run(rasa_speedups._freeze_after(fake_load)("m.tar.gz"))
frozen_after = gc.get_freeze_count()
gc.unfreeze()

class LateEvent(UserUttered):          # a subclass imported after the table was built
    type_name = "late_test_event"

print(json.dumps({"before": before, "after": after, "plain": plain, "resolved_before": resolved_before,
                  "resolved_after": resolved_after, "late": resolve("late_test_event"),
                  "names": len(names), "loaded": loaded["agent"],
                  "frozen": [frozen_before, frozen_after]}, ensure_ascii=False))
'''


@pytest.fixture(scope="module")
def out() -> dict:
    """Rasa's functions and ours on the same inputs, in one .venv-rasa process."""
    if not RASA_PYTHON.exists():
        pytest.skip(".venv-rasa missing")
    env = {"PYTHONPATH": str(REPO_ROOT), "RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([str(RASA_PYTHON), "-c", CHECK], env=env, capture_output=True, text=True, timeout=180,
                          cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_compiled_validator_matches_rasas_own_check(out):
    assert out["after"] == out["before"]
    kinds = [o[0] for o in out["after"]]
    assert kinds[:7] == ["ok"] * 3 + ["error"] * 4, out["after"]
    assert kinds.count("ok") == 3 + 24 + 1 and kinds.count("error") == 4 + 16 + 8
    assert all("Failed to validate Action server response" in o[1] for o in out["after"] if o[0] == "error")
    # the cheap check decides every valid response and never passes an invalid one
    assert out["plain"] == [kind == "ok" for kind in kinds]


def test_event_class_table_resolves_like_rasa(out):
    assert out["names"] > 20
    assert out["resolved_after"] == out["resolved_before"]
    assert out["resolved_after"][-3:] == [None, "ValueError: Unknown event name 'no_such_event'.", "UserUttered"]
    assert out["late"] == "LateEvent"


def test_model_load_freezes_the_heap(out):
    """After Rasa's load_agent_on_start (wrapped by install()), what is alive leaves garbage collection."""
    assert out["loaded"] == "m.tar.gz"
    before, after = out["frozen"]
    assert before == 0 and after > 1000


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason=".venv-rasa missing")
def test_launcher_passes_its_arguments_to_rasa():
    env = {"PYTHONPATH": str(REPO_ROOT), "RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([str(RASA_PYTHON), str(RASA_LAUNCHER), "--version"], env=env, capture_output=True,
                          text=True, timeout=180, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Rasa Version" in proc.stdout and "3.6" in proc.stdout
