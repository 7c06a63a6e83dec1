"""The Rasa side, run with .venv-rasa (Rasa 3.6 + SQLAlchemy 1.4) in a subprocess: the event broker
through Rasa's own EventBroker.create and SQLTrackerStore, an erasure in the middle of a turn (nothing
of the erased turns comes back, nothing is stored twice), the store/rotation/purge on SQLAlchemy 1.4,
and the broker refusing to start in production without keys."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from common.settings import REPO_ROOT

from .conftest import K1, K2

RASA_PYTHON = REPO_ROOT / ".venv-rasa" / "bin" / "python"


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason=".venv-rasa not installed")
@pytest.mark.timeout(180)
def test_broker_and_in_turn_erasure_with_real_rasa(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "INSUREBOT_VAR_DIR": str(tmp_path / "var"),
           "INSUREBOT_ENV": "development", "TRANSCRIPT_KEYS": f"{K2},{K1}", "OLD_KEY": K1,
           "RASA_TELEMETRY_ENABLED": "false", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    env.pop("DATABASE_URL", None)
    proc = subprocess.run([str(RASA_PYTHON), str(REPO_ROOT / "tests" / "privacy" / "rasa_flow.py"),
                           str(tmp_path / "tracker.db")], env=env, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    conv = out["conversation"]
    assert conv["erased"]["tracker_events"] == 9 and conv["erased"]["transcript_turns"] == 4   # 1 + 4 + 4 events
    assert conv["alice_events"] == 10 + 7                      # 10 neutral (len(tracker.events)) + turns 3 and 4
    assert conv["alice_turns"] == [["bot", "已为您删除聊天记录"], ["user", "你好"], ["bot", "您好"]]
    assert conv["key_usage"] == {"k2": 5}
    assert out["sqlalchemy14"] == {"rotated": 5, "purged": 5}
    assert out["production_refused"] is True
