"""Rasa on this machine's PostgreSQL (tracker store) and Redis (lock store): slots survive a restart."""
import threading

import psycopg2
import pytest
import redis

from tests.e2e.conftest import rest, run_stack, stack_settings, tracker

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory):
    settings = stack_settings(tmp_path_factory.mktemp("stack-pg"), 21000, DATABASE_URL=PG_URL, REDIS_URL=REDIS_URL)
    yield from run_stack(settings)


def test_slots_survive_a_rasa_restart(shared_stack):
    s = shared_stack.settings
    sender = "e2e-pg-user"
    rest(s, sender, "重疾险等待期多久")
    assert tracker(s, sender)["slots"]["product"] == "critical_illness"

    shared_stack.restart("rasa")

    assert tracker(s, sender)["slots"]["product"] == "critical_illness"
    # the conversation goes on with the restored product context
    reply = " ".join(r.get("text", "") for r in rest(s, sender, "那犹豫期呢"))
    assert "《重大疾病保险条款》" in reply
    with psycopg2.connect(PG_URL) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM events WHERE sender_id = %s", (sender,))
        assert cur.fetchone()[0] > 5


def test_rasa_uses_the_redis_lock_store(shared_stack):
    """Watch Redis while a message is processed: the lock store reads/writes insurebot:lock:<sender>."""
    seen: list[str] = []
    client = redis.Redis.from_url(REDIS_URL)
    with client.monitor() as monitor:
        stop = threading.Event()

        def listen() -> None:
            for command in monitor.listen():
                seen.append(str(command.get("command", "")))
                if stop.is_set() or len(seen) > 10000:
                    break

        thread = threading.Thread(target=listen, daemon=True)
        thread.start()
        rest(shared_stack.settings, "e2e-lock-user", "你好")
        stop.set()
        client.ping()  # wakes the listener so it can stop
        thread.join(5)
    assert any("insurebot:lock:e2e-lock-user" in c for c in seen), seen[:20]
