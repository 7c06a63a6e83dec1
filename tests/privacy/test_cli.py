"""`python -m transcripts ...` on the database the environment names (tmp var dir, SQLite)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from ops import audit
from common.settings import REPO_ROOT
from storage.db import get_engine
from transcripts import cli
from transcripts.crypto import KeyRing
from transcripts.store import TranscriptStore, Turn

from .conftest import K1, K2


def test_cli_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRANSCRIPT_KEYS", K1)
    engine = get_engine(f"sqlite:///{tmp_path / 'var' / 'app.db'}")
    TranscriptStore(engine, KeyRing.from_value(K1)).add([Turn("oCli-user-00001", "user", "手机13812345678", 1.0)])

    assert cli.run(["hold", "set", "oCli-user-00001", "--reason", "监管调取"])["user_masked"] == "oCli****0001"
    assert len(cli.run(["hold", "list"])["holds"]) == 1
    assert cli.run(["erase", "oCli-user-00001"])["held"] is True
    assert cli.run(["hold", "clear", "oCli-user-00001"]) == {"cleared": True}
    shown = cli.run(["show", "oCli-user-00001"])
    assert [t["text"] for t in shown["turns"]] == ["手机138****5678"]
    assert cli.run(["purge"])["counts"]["transcript_turns"] == 1          # created at t=1.0: long expired
    assert cli.run(["status"])["rows_per_key"] == {}
    assert cli.main(["erase", ""]) == 2 and "sender_id" in capsys.readouterr().err
    actions = [e["action"] for e in audit.entries(engine)]
    assert actions == ["privacy.purge", "transcripts.read", "privacy.hold.clear",
                       "privacy.erase.refused", "privacy.hold.set"]
    assert all(e["actor"].startswith("cli:") for e in audit.entries(engine))


def test_rotate_entry_point(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TRANSCRIPT_KEYS": K1}
    engine = get_engine(f"sqlite:///{tmp_path / 'var' / 'app.db'}")
    TranscriptStore(engine, KeyRing.from_value(K1)).add([Turn(f"u{i}", "bot", "你好", float(i)) for i in range(3)])
    env["TRANSCRIPT_KEYS"] = f"{K2},{K1}"
    done = subprocess.run([sys.executable, "-m", "transcripts.rotate", "--batch", "2"], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"active_key": "k2", "rotated": 3, "failed": 0, "remaining": 0}
    status = subprocess.run([sys.executable, "-m", "transcripts", "status"], env=env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert json.loads(status.stdout)["rows_per_key"] == {"k2": 3}
    env.update({"INSUREBOT_ENV": "production", "TRANSCRIPT_KEYS": ""})
    refused = subprocess.run([sys.executable, "-m", "transcripts", "status"], env=env, cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "TRANSCRIPT_KEYS" in refused.stderr
