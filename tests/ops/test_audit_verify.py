"""`python -m ops.audit verify`: exit 0 on an intact chain, 1 naming the first record edited or deleted
behind the triggers' back (SQLite and PostgreSQL)."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import text

from common.settings import REPO_ROOT
from ops import audit
from ops.audit import SystemActor
from storage.db import create_all, get_engine

ED = SystemActor("editor1", "editor")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    import ops.tables  # noqa: F401  (declares the audit tables)

    url = f"sqlite:///{tmp_path / 'app.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = get_engine(url)
    create_all(engine)
    for n in range(1, 6):
        audit.record(engine, ED, "kb.save", f"faq/{n}", {"version": n, "summary": "改了等待期说明"})
    return url


def run_verify(url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "ops.audit", "verify"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def tamper(url: str, *statements: str) -> None:
    """Change rows the way an attacker with database access would: the append-only triggers off first."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url[len("sqlite:///"):])
        conn.executescript("DROP TRIGGER kb_audit_no_update; DROP TRIGGER kb_audit_no_delete; "
                           + "; ".join(statements))
        conn.close()
        return
    with get_engine(url).begin() as conn:
        conn.execute(text("ALTER TABLE kb_audit DISABLE TRIGGER kb_audit_append_only"))
        for sql in statements:
            conn.execute(text(sql))


def test_intact_log_exits_0_with_the_count_and_head(url):
    result = run_verify(url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "audit log OK: 5 records checked" in result.stdout
    head = audit.verify_chain(get_engine(url)).head_hash
    assert f"seq 5 hash {head}" in result.stdout


def test_edited_row_exits_1_naming_its_seq(url):
    tamper(url, "UPDATE kb_audit SET detail = '{\"version\": 3, \"summary\": \"nothing happened\"}' WHERE seq = 3")
    result = run_verify(url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN at seq 3" in result.stdout and "content does not match its hash" in result.stdout
    assert "2 records before it are intact" in result.stdout


def test_deleted_row_exits_1_naming_its_seq(url):
    tamper(url, "DELETE FROM kb_audit WHERE seq = 4")
    result = run_verify(url)
    assert result.returncode == 1
    assert "BROKEN at seq 4: missing" in result.stdout


def test_deleted_newest_rows_are_caught_by_the_head(url):
    tamper(url, "DELETE FROM kb_audit WHERE seq >= 4")
    result = run_verify(url)
    assert result.returncode == 1 and "BROKEN at seq 4: missing" in result.stdout


def test_rewritten_hash_breaks_the_next_link(url):
    """An edit that also recomputes its own hash still fails at the next record's previous-hash."""
    engine = get_engine(url)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM kb_audit WHERE seq = 2")).mappings().one()
    forged = audit._record_hash(row["prev_hash"], 2, row["at"], "mallory", row["role"], row["action"], row["target"],
                                row["detail"])
    tamper(url, f"UPDATE kb_audit SET actor = 'mallory', hash = '{forged}' WHERE seq = 2")
    result = audit.verify_chain(engine)
    assert (result.ok, result.broken_seq, result.checked) == (False, 3, 2)
    assert "previous-hash" in result.reason


def test_missing_database_exits_1(tmp_path):
    result = run_verify(f"sqlite:///{tmp_path / 'nothing.db'}")
    assert result.returncode == 1 and "no database" in result.stdout
    assert not (tmp_path / "nothing.db").exists()        # verifying never creates a database
