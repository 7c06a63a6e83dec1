"""Our Rasa lock and tracker stores, loaded by Rasa's own factories in .venv-rasa (a subprocess).

* FailoverLockStore: Redis ticket locks; Redis killed -> in-process locks that still serialise one
  user's turns, no error; Redis back -> shared locks again.
* ResilientSQLTrackerStore: every server connection killed (what a PostgreSQL restart does) between
  two turns -> the next read and write find the conversation. Rasa's plain SQL store, wrapped in
  Rasa's FailSafeTrackerStore as Rasa does, loses it: that is the fault this class exists for.
  Each save streams exactly its new events to the event broker once (found by a COUNT, not by
  re-reading the session as Rasa does).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from common.settings import REPO_ROOT
from tests.faults.infra import MACHINE_PG, free_port, fresh_database

RASA_PYTHON = REPO_ROOT / ".venv-rasa" / "bin" / "python"


@pytest.mark.skipif(not RASA_PYTHON.exists() or shutil.which("redis-server") is None,
                    reason=".venv-rasa or redis-server missing")
@pytest.mark.timeout(300)
def test_lock_and_tracker_stores_ride_out_faults():
    with fresh_database(MACHINE_PG, prefix="fault_stores") as db_url:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "RASA_TELEMETRY_ENABLED": "false",
               "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
        proc = subprocess.run([str(RASA_PYTHON), str(REPO_ROOT / "tests" / "faults" / "rasa_stores_flow.py"),
                               str(free_port()), db_url, MACHINE_PG],
                              env=env, capture_output=True, text=True, timeout=280, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    lock = out["lock_store"]
    assert lock["class"] == "FailoverLockStore" and lock["isinstance"]
    assert lock["shared_key_while_locked"] and lock["local_lock_while_down"] and lock["degraded"]
    assert lock["serialised_while_down"] and lock["seconds_while_down"] < 5
    assert lock["shared_again"]
    trackers = out["tracker_store"]
    assert trackers["ours_class"] == "ResilientSQLTrackerStore"
    ours, plain = trackers["ours"], trackers["rasa_plain"]
    assert ours["killed"] >= 1 and ours["found"] and ours["product"] == "critical_illness"
    assert ours["user_events"] == ["重疾险", "那等待期呢"]
    assert plain["killed"] >= 1 and not plain["found"], plain     # Rasa alone: a blank conversation
    # each save streams exactly its new events to the event broker, once, across the retried write
    assert trackers["ours_published"] == [["user", "重疾险"], ["slot", "critical_illness"], ["user", "那等待期呢"]]


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason=".venv-rasa missing")
def test_sqlite_tracker_file_uses_a_write_ahead_log(tmp_path):
    """On one machine the tracker file is SQLite: WAL + synchronous=NORMAL (cheap commits, readers never block)."""
    code = (
        "import sqlalchemy as sa\n"
        "from rasa.core.tracker_store import TrackerStore\n"
        "from rasa.shared.core.domain import Domain\n"
        "from rasa.utils.endpoints import EndpointConfig\n"
        f"url = 'sqlite:///{tmp_path}/tracker.db'\n"
        "store = TrackerStore.create(EndpointConfig(url=url, type='connectors.rasa_stores.ResilientSQLTrackerStore'),"
        " Domain.empty())\n"
        "store = getattr(store, '_tracker_store', store)\n"
        "with store.engine.connect() as conn:\n"
        "    print(conn.execute(sa.text('PRAGMA journal_mode')).scalar(), conn.execute(sa.text('PRAGMA synchronous')).scalar())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "RASA_TELEMETRY_ENABLED": "false",
           "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    proc = subprocess.run([str(RASA_PYTHON), "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["wal", "1"]   # 1 = NORMAL
