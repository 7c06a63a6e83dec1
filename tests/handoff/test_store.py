"""The hand-off tables on SQLite and PostgreSQL: atomic claims, capacity, one open hand-off per conversation."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from handoff.store import ACTIVE, CALLBACK, ENDED, QUEUED, HandoffStore


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def new(store: HandoffStore, cid: str, status: str = QUEUED, skill: str = "sales"):
    row, created = store.create(conversation_id=cid, channel="rest", reason="request_human", skill=skill,
                                card={"turns": [{"role": "user", "text": "我叫张三 手机13812345678"}]}, status=status)
    assert created
    return row


def race(n: int, fn):
    """Run ``fn(i)`` in ``n`` threads released together; returns the results."""
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_two_agents_never_claim_the_same_conversation(engine):
    store = HandoffStore(engine)
    agents = list(range(101, 109))
    for uid in agents:
        store.set_agent_status(uid, "online")
    for round_ in range(10):
        row = new(store, f"conv-{round_}")
        results = race(len(agents), lambda i: store.assign(row.id, agents[i], respect_capacity=False))
        assert results.count(True) == 1, results
        winner = agents[results.index(True)]
        assert store.get(row.id).agent_id == winner and store.get(row.id).status == ACTIVE
    loads = {a.user_id: a.active_chats for a in store.agent_loads()}
    assert sum(loads.values()) == 10                      # losers' increments were rolled back


def test_capacity_holds_under_concurrent_auto_assignment(engine):
    store = HandoffStore(engine, default_capacity=3)
    store.set_agent_status(7, "online")
    rows = [new(store, f"cap-{i}") for i in range(10)]
    results = race(10, lambda i: store.assign(rows[i].id, 7))
    assert results.count(True) == 3
    assert store.agent_loads()[0].active_chats == 3
    assert len(store.list([QUEUED])) == 7


def test_one_open_handoff_per_conversation(engine):
    store = HandoffStore(engine)

    def create(i):
        return store.create(conversation_id="same-user", channel="rest", reason="request_human", skill="sales",
                            card={}, status=QUEUED)

    results = race(6, create)
    assert sum(created for _, created in results) == 1
    assert len({row.id for row, _ in results}) == 1
    first = results[0][0]
    assert store.end(first.id, reason="agent") is not None
    again, created = store.create(conversation_id="same-user", channel="rest", reason="complaint", skill="complaints",
                                  card={}, status=QUEUED)
    assert created and again.id != first.id              # a new hand-off after the first ended


def test_end_once_releases_the_agent_and_masks_the_transcript(engine):
    clock = Clock()
    store = HandoffStore(engine, clock=clock)
    store.set_agent_status(5, "online")
    row = new(store, "end-user")
    clock.now += 12
    assert store.assign(row.id, 5)
    assert store.add_message(row.id, "user", "我的身份证110101199003071234", event_key="m1") is not None
    assert store.add_message(row.id, "user", "我的身份证110101199003071234", event_key="m1") is None   # relayed twice
    store.add_message(row.id, "agent", "好的，已为您查询", author="小王")
    clock.now += 60
    results = race(4, lambda i: store.end(row.id, reason="agent", ended_by=5, rating_window_s=600))
    assert sum(r is not None for r in results) == 1
    ended = store.get(row.id)
    assert ended.status == ENDED and ended.open_key is None and ended.wait_s == 12 and ended.duration_s == 60
    assert ended.rating_due_until == clock.now + 600
    assert store.agent_loads()[0].active_chats == 0
    transcript = store.finalize_transcript(row.id)
    assert [t["role"] for t in transcript] == ["user", "user", "agent"]
    assert "110101199003071234" not in str(transcript) and "13812345678" not in str(transcript)
    assert all("110101199003071234" not in m.text for m in store.messages(row.id))
    assert store.set_rating(row.id, 5) and not store.set_rating(row.id, 1)
    assert store.get(row.id).rating == 5


def test_callbacks_queue_positions_and_watch_list(engine):
    clock = Clock()
    store = HandoffStore(engine, clock=clock)
    a = new(store, "a")
    clock.now += 1
    b = new(store, "b")
    clock.now += 1
    c, _ = store.create(conversation_id="c", channel="wechat", reason="request_human", skill="claims", card={},
                        status=CALLBACK, watch_until=clock.now + 600)
    assert store.queue_position(a) == 0 and store.queue_position(b) == 1
    assert {r.id for r in store.watched(clock.now)} == {a.id, b.id, c.id}
    assert {r.id for r in store.watched(clock.now + 601)} == {a.id, b.id}
    assert store.to_callback(a.id) and not store.to_callback(a.id)
    assert store.requeue_callback(c.id) and store.get(c.id).status == QUEUED
    assert store.agents_on_duty() == 0
    store.set_agent_status(1, "busy")
    assert store.agents_on_duty() == 1
