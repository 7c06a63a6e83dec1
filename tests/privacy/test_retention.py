"""Retention purge on SQLite and PostgreSQL: old records go everywhere, recent ones and held users' stay,
every purge and hold change is in the hash-chained audit log."""
from __future__ import annotations

import json

import pytest

from ops import audit
from ops.audit import SystemActor
from transcripts import holds, retention

from .seed import NOTHING, SEEDED, counts, seed_user

DAY = 86400.0
NOW = 1_800_000_000.0
ADMIN = SystemActor(username="admin1", role="admin")


def test_purge_deletes_old_records_except_held_users(dbs, ring):
    seed_user(dbs, ring, "oOld-user-000001", NOW - 200 * DAY)
    seed_user(dbs, ring, "oHeld-user-00001", NOW - 400 * DAY)
    seed_user(dbs, ring, "oRecent-user-001", NOW - 10 * DAY)
    seed_user(dbs, ring, "oMixed-user-0001", NOW - 181 * DAY)
    seed_user(dbs, ring, "oMixed-user-0001", NOW - 179 * DAY)
    holds.set_hold(dbs.app, "oHeld-user-00001", "理赔纠纷诉讼 (2025)沪0101民初123号", ADMIN)

    result = retention.purge(dbs.app, dbs.tracker, retention_days=180, quote_retention_days=180, now=NOW)

    assert counts(dbs, "oOld-user-000001") == NOTHING
    assert counts(dbs, "oHeld-user-00001") == SEEDED             # on legal hold: nothing touched
    assert counts(dbs, "oRecent-user-001") == SEEDED
    assert counts(dbs, "oMixed-user-0001") == SEEDED             # the older half only
    assert result["counts"] == {"transcript_turns": 6, "erasure_markers": 0, "handoffs": 2, "handoff_messages": 4,
                                "unanswered": 2, "clarifications": 2, "quote_displays": 2, "tracker_events": 6}
    assert result["held_users"] == 1

    entries = audit.entries(dbs.app)
    assert [e["action"] for e in entries][:2] == ["privacy.purge", "privacy.hold.set"]
    assert entries[0]["detail"]["counts"] == result["counts"] and entries[0]["actor"] == "system"
    assert audit.verify(dbs.app) == (True, 2, None)
    dumped = json.dumps(entries, ensure_ascii=False)
    assert "oHeld-user-00001" not in dumped and "oOld-user" not in dumped   # pseudonyms only

    # clearing the hold lets the next purge take that user's old records too
    assert holds.clear_hold(dbs.app, "oHeld-user-00001", ADMIN)
    retention.purge(dbs.app, dbs.tracker, retention_days=180, quote_retention_days=180, now=NOW)
    assert counts(dbs, "oHeld-user-00001") == NOTHING
    assert [e["action"] for e in audit.entries(dbs.app)][:2] == ["privacy.purge", "privacy.hold.clear"]
    assert audit.verify(dbs.app)[0]


def test_quote_records_follow_their_own_retention(dbs, ring):
    seed_user(dbs, ring, "oQuote-user-0001", NOW - 400 * DAY)
    retention.purge(dbs.app, dbs.tracker, retention_days=180, quote_retention_days=0, now=NOW)
    assert counts(dbs, "oQuote-user-0001") == {**NOTHING, "quote_displays": 1}   # 0 = not purged by age
    retention.purge(dbs.app, dbs.tracker, retention_days=180, quote_retention_days=1825, now=NOW)
    assert counts(dbs, "oQuote-user-0001")["quote_displays"] == 1
    retention.purge(dbs.app, dbs.tracker, retention_days=180, quote_retention_days=365, now=NOW)
    assert counts(dbs, "oQuote-user-0001")["quote_displays"] == 0


def test_purge_without_a_tracker_store_and_bad_retention(dbs, ring):
    seed_user(dbs, ring, "oNo-tracker-0001", NOW - 200 * DAY)
    result = retention.purge(dbs.app, None, retention_days=180, now=NOW)
    assert result["counts"]["tracker_events"] == 0 and counts(dbs, "oNo-tracker-0001")["tracker_events"] == 3
    with pytest.raises(ValueError):
        retention.purge(dbs.app, None, retention_days=0, now=NOW)


def test_hold_set_update_list_clear(dbs):
    h = holds.set_hold(dbs.app, "oCase-user-00001", "监管调取", ADMIN)
    assert h.user_masked == "oCas****0001" and len(h.subject) == 32
    holds.set_hold(dbs.app, "oCase-user-00001", "监管调取（延长）", ADMIN)
    listed = holds.list_holds(dbs.app)
    assert [(x.subject, x.reason) for x in listed] == [(h.subject, "监管调取（延长）")]
    assert holds.is_held(dbs.app, "oCase-user-00001") and not holds.is_held(dbs.app, "oOther")
    assert not holds.clear_hold(dbs.app, "oNobody", ADMIN)
    assert holds.clear_hold(dbs.app, h.subject, ADMIN)           # by the subject key the list shows
    assert holds.list_holds(dbs.app) == []
    assert [e["action"] for e in audit.entries(dbs.app)] == ["privacy.hold.clear", "privacy.hold.set",
                                                             "privacy.hold.set"]
    with pytest.raises(ValueError):
        holds.set_hold(dbs.app, "oCase", "  ", ADMIN)


def test_one_replica_per_interval_runs_the_periodic_purge(dbs):
    assert retention.claim_periodic_run(dbs.app, "job", 3600, now=NOW)
    assert not retention.claim_periodic_run(dbs.app, "job", 3600, now=NOW + 10)      # another replica
    assert not retention.claim_periodic_run(dbs.app, "job", 3600, now=NOW + 3599)
    assert retention.claim_periodic_run(dbs.app, "job", 3600, now=NOW + 3600)
