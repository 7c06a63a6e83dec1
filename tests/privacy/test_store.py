"""TranscriptStore on SQLite and PostgreSQL: masked then encrypted at rest, dedupe, tamper detection,
key rotation with old + new keys (idempotent, resumable)."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text, update

from transcripts.crypto import DecryptionError, KeyRing
from transcripts.store import TranscriptStore, Turn
from transcripts.subjects import subject_of
from transcripts.tables import privacy_erasures, transcript_turns

from .conftest import K1, K2

PHONE, ID_NO = "13812345678", "110101199003071234"


def turns(sender: str, n: int, at: float = 1_700_000_000.0) -> list[Turn]:
    return [Turn(sender, "user" if i % 2 == 0 else "bot", f"第{i}句 我的电话{PHONE}", at + i, "rest", f"{sender}-{i}")
            for i in range(n)]


def raw_rows(engine):
    with engine.connect() as conn:
        return conn.execute(select(transcript_turns).order_by(transcript_turns.c.id)).all()


def test_write_read_masked_and_encrypted_at_rest(dbs, ring):
    store = TranscriptStore(dbs.app, ring)
    stored = store.add([Turn("oUser-A-0001", "user", f"我叫张三 手机{PHONE} 身份证{ID_NO}", 1.0, "wechat", "a1"),
                        Turn("oUser-A-0001", "bot", "好的，已收到", 2.0, None, "a2"),
                        Turn("oUser-A-0001", "agent", "您好，我是客服小王", 3.0, "rest", "a3")])
    assert stored == 3
    got = store.read("oUser-A-0001")
    assert [t["role"] for t in got] == ["user", "bot", "agent"]
    assert "138****5678" in got[0]["text"] and PHONE not in got[0]["text"] and ID_NO not in got[0]["text"]
    assert got[0]["text"].startswith("我叫张*")                    # masked BEFORE encryption
    assert got[2]["text"] == "您好，我是客服小王" and got[0]["channel"] == "wechat"
    with dbs.app.connect() as conn:                            # nothing readable in the database itself
        dump = " ".join(str(v) for row in conn.execute(text("SELECT * FROM transcript_turns")) for v in row)
    for needle in (PHONE, "张", "已收到", "客服小王", "oUser-A-0001"):
        assert needle not in dump
    rows = raw_rows(dbs.app)
    assert {r.key_id for r in rows} == {"k1"} and {r.subject for r in rows} == {subject_of("oUser-A-0001")}


def test_same_event_twice_is_stored_once_and_erased_users_old_turns_are_dropped(dbs, ring):
    store = TranscriptStore(dbs.app, ring)
    batch = turns("u-dup", 3)
    assert store.add(batch) == 3
    assert store.add(batch) == 0 and store.add(batch[:1] + turns("u-dup2", 1)) == 1
    with dbs.app.begin() as conn:
        conn.execute(privacy_erasures.insert().values(subject=subject_of("u-late"), erased_at=1_700_000_001.5))
    late = turns("u-late", 4)                                  # at = ...000, 001, 002, 003
    assert store.add(late) == 2                                # only the two after the erasure
    assert [t["at"] for t in store.read("u-late")] == [1_700_000_002.0, 1_700_000_003.0]


def test_tampered_or_swapped_rows_fail_to_decrypt(dbs, ring):
    store = TranscriptStore(dbs.app, ring)
    store.add(turns("u-a", 1) + turns("u-b", 1))
    rows = raw_rows(dbs.app)
    a, b = rows[0], rows[1]
    with dbs.app.begin() as conn:                              # give A's row B's ciphertext
        conn.execute(update(transcript_turns).where(transcript_turns.c.id == a.id).values(body=b.body))
    with pytest.raises(DecryptionError):
        store.read("u-a")
    flipped = b.body[:-3] + ("A" if b.body[-3] != "A" else "B") + b.body[-2:]
    with dbs.app.begin() as conn:
        conn.execute(update(transcript_turns).where(transcript_turns.c.id == b.id).values(body=flipped))
    with pytest.raises(DecryptionError):
        store.read("u-b")


def test_rotation_moves_every_row_to_the_new_key(dbs):
    old = TranscriptStore(dbs.app, KeyRing.from_value(K1))
    old.add(turns("u-rot-1", 5) + turns("u-rot-2", 4))
    assert old.key_usage() == {"k1": 9}
    new_ring = KeyRing.from_value(f"{K2},{K1}")                 # new key first, old still listed
    store = TranscriptStore(dbs.app, new_ring)
    store.add(turns("u-rot-3", 2))                             # new writes already use k2
    before = store.read("u-rot-1")
    report = store.rotate(batch_size=4)
    assert (report.rotated, report.failed, report.remaining) == (9, 0, 0)
    assert store.key_usage() == {"k2": 11}
    only_new = TranscriptStore(dbs.app, KeyRing.from_value(K2))  # k1 can now be removed from the environment
    assert [t["text"] for t in only_new.read("u-rot-1")] == [t["text"] for t in before]
    assert store.rotate().rotated == 0                          # idempotent


def test_rotation_is_resumable_after_an_interruption(dbs):
    TranscriptStore(dbs.app, KeyRing.from_value(K1)).add(turns("u-resume", 10))
    store = TranscriptStore(dbs.app, KeyRing.from_value(f"{K2},{K1}"))

    def crash(done, failed):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        store.rotate(batch_size=3, on_batch=crash)              # dies after the first committed batch
    assert store.key_usage() == {"k2": 3, "k1": 7}
    report = store.rotate(batch_size=3)
    assert (report.rotated, report.remaining) == (7, 0)
    assert len(TranscriptStore(dbs.app, KeyRing.from_value(K2)).read("u-resume")) == 10


def test_rows_under_a_key_no_longer_configured_are_reported_not_lost(dbs):
    TranscriptStore(dbs.app, KeyRing.from_value(K1)).add(turns("u-lost", 2))
    k3 = "k3:aaaabbbbccccddddeeeeffff00001111"
    report = TranscriptStore(dbs.app, KeyRing.from_value(f"{k3},{K2}")).rotate()   # k1 forgotten
    assert (report.rotated, report.failed, report.remaining) == (0, 2, 2)
    assert TranscriptStore(dbs.app, KeyRing.from_value(f"{k3},{K1}")).rotate().rotated == 2
