"""A user's erasure on SQLite and PostgreSQL: everything of that user goes, nothing of anyone else,
legal holds win, the audit log has the subject key and never the user id."""
from __future__ import annotations

import json

from sqlalchemy import insert, select

from handoff.store import ACTIVE, agents, handoffs
from ops import audit
from ops.audit import SystemActor
from transcripts import holds
from transcripts.erasure import CHAT_ACTOR, erase_user
from transcripts.store import TranscriptStore, Turn
from transcripts.subjects import subject_of
from transcripts.tracker_events import NEUTRAL_EVENT, events

from .seed import NOTHING, SEEDED, counts, seed_user

AT = 1_750_000_000.0
ALICE, BOB = "oAlice-openid-0001", "oBob-openid-000002"


def test_erasure_removes_everything_of_the_user_and_nothing_else(dbs, ring):
    seed_user(dbs, ring, ALICE, AT)
    seed_user(dbs, ring, ALICE, AT + 86400)
    seed_user(dbs, ring, BOB, AT)
    result = erase_user(dbs.app, dbs.tracker, ALICE, actor=CHAT_ACTOR, now=AT + 2 * 86400)
    assert not result.held and result.subject == subject_of(ALICE)
    assert counts(dbs, ALICE) == NOTHING
    assert counts(dbs, BOB) == SEEDED
    assert result.counts == {k: 2 * v for k, v in SEEDED.items()}
    assert len(TranscriptStore(dbs.app, ring).read(BOB)) == 3

    entry = audit.entries(dbs.app)[0]
    assert (entry["action"], entry["target"], entry["actor"]) == ("privacy.erase", f"subject:{subject_of(ALICE)}",
                                                                  "data-subject")
    assert entry["detail"]["counts"] == result.counts
    assert ALICE not in json.dumps(audit.entries(dbs.app), ensure_ascii=False)
    assert audit.verify(dbs.app)[0]

    # a turn of Alice's from before the erasure arriving late (queued, re-published) is not stored again
    store = TranscriptStore(dbs.app, ring)
    assert store.add([Turn(ALICE, "user", "迟到的消息", AT + 2 * 86400 - 5)]) == 0
    assert store.add([Turn(ALICE, "user", "删除之后的新消息", AT + 2 * 86400 + 5)]) == 1


def test_erasure_inside_the_rasa_turn_leaves_neutral_events_only(dbs, ring):
    seed_user(dbs, ring, ALICE, AT, n_tracker=7)
    seed_user(dbs, ring, BOB, AT, n_tracker=4)
    erase_user(dbs.app, dbs.tracker, ALICE, actor=CHAT_ACTOR, keep_tracker_events=5, now=AT + 99)
    with dbs.tracker.connect() as conn:
        rows = conn.execute(select(events).where(events.c.sender_id == ALICE)).all()
        bob = conn.execute(select(events).where(events.c.sender_id == BOB)).all()
    assert len(rows) == 5 and {r.type_name for r in rows} == {NEUTRAL_EVENT}
    assert all(json.loads(r.data) == {"event": NEUTRAL_EVENT, "timestamp": AT + 99} for r in rows)
    assert len(bob) == 4 and all("13812345678" in r.data for r in bob)


def test_a_user_on_legal_hold_is_not_erased(dbs, ring):
    seed_user(dbs, ring, ALICE, AT)
    holds.set_hold(dbs.app, ALICE, "诉讼保全", SystemActor("admin1", "admin"))
    result = erase_user(dbs.app, dbs.tracker, ALICE, actor=CHAT_ACTOR)
    assert result.held and result.counts == {}
    assert counts(dbs, ALICE) == SEEDED
    entry = audit.entries(dbs.app)[0]
    assert entry["action"] == "privacy.erase.refused" and entry["detail"]["reason"] == "legal hold"


def test_erasing_a_live_hand_off_frees_the_agent(dbs, ring):
    with dbs.app.begin() as conn:
        conn.execute(insert(agents).values(user_id=7, status="online", skills="sales", capacity=3, active_chats=1,
                                           assigned_total=1, last_assigned_at=AT, updated_at=AT))
        conn.execute(insert(handoffs).values(conversation_id=ALICE, open_key=ALICE, channel="rest", kind="live",
                                             reason="request_human", skill="sales", status=ACTIVE, agent_id=7,
                                             created_at=AT, queued_at=AT, last_message_at=AT, card="{}"))
    result = erase_user(dbs.app, None, ALICE, actor=CHAT_ACTOR)
    assert result.counts["handoffs"] == 1 and result.counts["tracker_events"] == 0
    with dbs.app.connect() as conn:
        assert conn.execute(select(agents.c.active_chats).where(agents.c.user_id == 7)).scalar() == 0


def test_erasing_a_user_without_records_is_fine_and_audited(dbs):
    result = erase_user(dbs.app, dbs.tracker, "oNever-seen-00001", actor=CHAT_ACTOR)
    assert result.total == 0 and audit.entries(dbs.app)[0]["action"] == "privacy.erase"
