"""Run with .venv-rasa by test_rasa_stores.py: Rasa's own factories load our lock and tracker stores,
and each rides out its fault. Prints one JSON line of findings.

usage: rasa_stores_flow.py REDIS_PORT DATABASE_URL ADMIN_URL
"""
from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
import time


def start_redis(port: int) -> subprocess.Popen:
    import redis

    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            if redis.Redis(port=port, socket_connect_timeout=0.2).ping():
                return proc
        except Exception:
            time.sleep(0.1)
    raise RuntimeError("redis did not start")


async def lock_store_flow(port: int) -> dict:
    import redis
    from rasa.core.lock_store import LockStore
    from rasa.utils.endpoints import EndpointConfig

    from connectors.rasa_stores import FailoverLockStore

    server = start_redis(port)
    store = LockStore.create(EndpointConfig(url="127.0.0.1", type="connectors.rasa_stores.FailoverLockStore",
                                            port=str(port), db="0", key_prefix="insurebot"))
    out: dict = {"class": type(store).__name__}
    client = redis.Redis(port=port)
    async with store.lock("alice"):
        out["shared_key_while_locked"] = client.exists("insurebot:lock:alice") == 1
    server.kill()
    server.wait()
    started = time.monotonic()
    async with store.lock("alice"):
        out["local_lock_while_down"] = store.local.get_lock("alice") is not None
    # two turns of one user in this process are still serialised while Redis is down
    order: list = []

    async def turn(name: str) -> None:
        async with store.lock("bob", wait_time_in_seconds=0.05):
            order.append(f"{name}-in")
            await asyncio.sleep(0.2)
            order.append(f"{name}-out")

    await asyncio.gather(turn("t1"), turn("t2"))
    out["serialised_while_down"] = order in (["t1-in", "t1-out", "t2-in", "t2-out"],
                                             ["t2-in", "t2-out", "t1-in", "t1-out"])
    out["seconds_while_down"] = round(time.monotonic() - started, 2)
    out["degraded"] = store.degraded
    server = start_redis(port)
    store._skip_until = 0.0          # skip the 5 s back-off
    async with store.lock("alice"):
        out["shared_again"] = client.exists("insurebot:lock:alice") == 1 and not store.degraded
    server.kill()
    server.wait()
    out["isinstance"] = isinstance(store, FailoverLockStore)
    return out


async def tracker_store_flow(database_url: str, admin_url: str) -> dict:
    import psycopg2
    from rasa.core.brokers.broker import EventBroker
    from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore, TrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import EndpointConfig

    domain = Domain.from_yaml("version: '3.1'\nslots:\n  product:\n    type: text\n    mappings: []\n")
    database = database_url.rsplit("/", 1)[1]

    def kill_connections() -> int:
        conn = psycopg2.connect(admin_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
            killed = cur.fetchone()[0]
        conn.close()
        return killed

    async def exercise(store) -> dict:
        sender = f"user-{type(store).__name__}"
        tracker = DialogueStateTracker(sender, domain.slots)
        tracker.update(UserUttered("重疾险", message_id="m1"))
        tracker.update(SlotSet("product", "critical_illness"))
        await store.save(tracker)
        killed = kill_connections()
        found = await store.retrieve(sender)         # what the next message of this user gets
        result = {"killed": killed, "found": found is not None,
                  "product": found.get_slot("product") if found else None}
        if found is not None:
            found.update(UserUttered("那等待期呢", message_id="m2"))
            kill_connections()
            await store.save(found)                   # writing after another restart
            again = await store.retrieve(sender)
            result["user_events"] = [e.text for e in again.events if isinstance(e, UserUttered)]
        return result

    class ListBroker(EventBroker):
        """What the transcript broker would receive: every published event, in order."""

        def __init__(self) -> None:
            self.published: list = []

        def publish(self, event: dict) -> None:
            self.published.append([event["event"], event.get("text") or event.get("value")])

    broker = ListBroker()
    ours = TrackerStore.create(EndpointConfig(url=database_url,
                                              type="connectors.rasa_stores.ResilientSQLTrackerStore"), domain,
                               event_broker=broker)
    plain = FailSafeTrackerStore(SQLTrackerStore(domain=domain, host=database_url))
    return {"ours_class": type(getattr(ours, "_tracker_store", ours)).__name__,
            "ours": await exercise(ours), "rasa_plain": await exercise(plain), "ours_published": broker.published}


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    port, database_url, admin_url = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    result = {"lock_store": asyncio.run(lock_store_flow(port)),
              "tracker_store": asyncio.run(tracker_store_flow(database_url, admin_url))}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
