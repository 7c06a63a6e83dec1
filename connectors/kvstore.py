"""A tiny key-value store with atomic operations, on Redis or on a local SQLite file.

The connectors need exactly-once message handling, a shared access_token and a persisted kf
cursor across processes (several Rasa replicas): Redis when REDIS_URL is set (with the SQLite file
as a stand-in while Redis is down, :class:`FailoverStore`), otherwise one SQLite file under the var
directory (processes on one machine). Synchronous by design: async
callers use ``asyncio.to_thread``.
"""
from __future__ import annotations

import asyncio
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional, Protocol, Union


class KeyValueStore(Protocol):
    def get(self, key: str) -> Optional[str]: ...
    def set(self, key: str, value: str, ttl_s: float) -> None: ...
    def add(self, key: str, value: str, ttl_s: float) -> bool: ...
    def cas(self, key: str, expected: str, new: str, ttl_s: float) -> bool: ...
    def delete_if(self, key: str, expected: str) -> bool: ...
    # an index: members ordered by a wall-clock score, each dropped ``ttl_s`` after its score
    def track(self, index: str, member: str, score: float, ttl_s: float) -> None: ...
    def tracked(self, index: str, max_score: float, limit: int = 200) -> List[str]: ...
    def untrack(self, index: str, member: str) -> None: ...
    def close(self) -> None: ...


class LockTimeout(Exception):
    """The lock stayed taken for longer than the caller was willing to wait."""


_CAS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisStore:
    """Redis backend (shared by every replica). Keys live under ``prefix``."""

    def __init__(self, url: str, prefix: str = "insurebot:connectors:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3,
                                           decode_responses=True, health_check_interval=30)
        self._prefix = prefix
        self._cas = self._redis.register_script(_CAS)
        self._delete_if = self._redis.register_script(_DELETE_IF)

    def _k(self, key: str) -> str:
        return self._prefix + key

    def get(self, key: str) -> Optional[str]:
        return self._redis.get(self._k(key))

    def set(self, key: str, value: str, ttl_s: float) -> None:
        self._redis.set(self._k(key), value, px=max(1, int(ttl_s * 1000)))

    def add(self, key: str, value: str, ttl_s: float) -> bool:
        return bool(self._redis.set(self._k(key), value, px=max(1, int(ttl_s * 1000)), nx=True))

    def cas(self, key: str, expected: str, new: str, ttl_s: float) -> bool:
        return bool(self._cas(keys=[self._k(key)], args=[expected, new, max(1, int(ttl_s * 1000))]))

    def delete_if(self, key: str, expected: str) -> bool:
        return bool(self._delete_if(keys=[self._k(key)], args=[expected]))

    # an index is a sorted set scored by time; members older than the ttl are dropped on each write
    def track(self, index: str, member: str, score: float, ttl_s: float) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.zremrangebyscore(self._k(index), "-inf", f"({time.time() - ttl_s}")
        if score > time.time() - ttl_s:
            pipe.zadd(self._k(index), {member: score})
        pipe.execute()

    def tracked(self, index: str, max_score: float, limit: int = 200) -> List[str]:
        return list(self._redis.zrangebyscore(self._k(index), "-inf", max_score, start=0, num=limit))

    def untrack(self, index: str, member: str) -> None:
        self._redis.zrem(self._k(index), member)

    def close(self) -> None:
        self._redis.close()


class SqliteStore:
    """SQLite backend: one file shared by the processes of one machine (WAL, busy timeout)."""

    _PURGE_EVERY = 500

    def __init__(self, path: Union[str, Path]) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), timeout=10, isolation_level=None,
                                     check_same_thread=False)
        self._lock = threading.Lock()
        self._writes = 0
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL,"
                " expires REAL NOT NULL)")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS kv_index (name TEXT NOT NULL, member TEXT NOT NULL,"
                " score REAL NOT NULL, expires REAL NOT NULL, PRIMARY KEY (name, member))")

    def _write(self, sql: str, params: tuple) -> int:
        with self._lock:
            cur = self._conn.execute(sql, params)
            changed = cur.rowcount
            self._writes += 1
            if self._writes % self._PURGE_EVERY == 0:
                self._conn.execute("DELETE FROM kv WHERE expires <= ?", (time.time(),))
            return changed

    def get(self, key: str) -> Optional[str]:
        with self._lock:
            row = self._conn.execute("SELECT value FROM kv WHERE key = ? AND expires > ?",
                                     (key, time.time())).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str, ttl_s: float) -> None:
        self._write("INSERT OR REPLACE INTO kv (key, value, expires) VALUES (?, ?, ?)",
                    (key, value, time.time() + ttl_s))

    def add(self, key: str, value: str, ttl_s: float) -> bool:
        now = time.time()
        return self._write(
            "INSERT INTO kv (key, value, expires) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE"
            " SET value = excluded.value, expires = excluded.expires WHERE kv.expires <= ?",
            (key, value, now + ttl_s, now)) == 1

    def cas(self, key: str, expected: str, new: str, ttl_s: float) -> bool:
        now = time.time()
        return self._write(
            "UPDATE kv SET value = ?, expires = ? WHERE key = ? AND value = ? AND expires > ?",
            (new, now + ttl_s, key, expected, now)) == 1

    def delete_if(self, key: str, expected: str) -> bool:
        return self._write("DELETE FROM kv WHERE key = ? AND value = ?", (key, expected)) == 1

    def track(self, index: str, member: str, score: float, ttl_s: float) -> None:
        self._write("INSERT OR REPLACE INTO kv_index (name, member, score, expires) VALUES (?, ?, ?, ?)",
                    (index, member, score, score + ttl_s))

    def tracked(self, index: str, max_score: float, limit: int = 200) -> List[str]:
        with self._lock:
            self._conn.execute("DELETE FROM kv_index WHERE name = ? AND expires <= ?", (index, time.time()))
            rows = self._conn.execute(
                "SELECT member FROM kv_index WHERE name = ? AND score <= ? ORDER BY score LIMIT ?",
                (index, max_score, limit)).fetchall()
        return [row[0] for row in rows]

    def untrack(self, index: str, member: str) -> None:
        self._write("DELETE FROM kv_index WHERE name = ? AND member = ?", (index, member))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _redis_errors() -> tuple:
    """Exceptions that mean "Redis is unreachable" (not a bug in the caller)."""
    try:
        import redis
    except ImportError:   # pragma: no cover - redis is in both venvs
        return (OSError,)
    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class FailoverStore:
    """Redis while it answers; the machine-local SQLite store while it does not (faults).

    With Redis down the channels keep exactly-once handling per machine instead of losing it (and
    instead of failing every message). One warning when Redis goes away, one notice when it is back;
    meanwhile Redis is tried again every ``retry_after_s``. Keys written locally during the outage
    stay visible after recovery for as long as their TTL (a retry of a message first seen during the
    outage is still recognised). Across machines, dedupe and the shared token are per machine while
    Redis is down: an outage must be short, not frequent (docs/deployment.md).
    """

    def __init__(self, primary: KeyValueStore, local: KeyValueStore, *, retry_after_s: float = 5.0,
                 name: str = "redis") -> None:
        self.primary, self.local = primary, local
        self.retry_after_s = retry_after_s
        self.name = name
        self.degraded = False
        self._skip_primary_until = 0.0          # monotonic
        self._local_keys_until = 0.0            # wall clock: local keys may still be alive
        self._errors = _redis_errors()
        self._state = threading.Lock()

    # ---- routing --------------------------------------------------------------------------
    def _primary(self, op: str, *args: object) -> "tuple[bool, object]":
        """(True, result) from Redis, or (False, None) when it is (known to be) unreachable."""
        if time.monotonic() < self._skip_primary_until:
            return False, None
        try:
            result = getattr(self.primary, op)(*args)
        except self._errors as exc:
            self._went_down(exc)
            return False, None
        if self.degraded:
            self._came_back()
        return True, result

    def _went_down(self, exc: BaseException) -> None:
        import logging

        with self._state:
            self._skip_primary_until = time.monotonic() + self.retry_after_s
            first = not self.degraded
            self.degraded = True
        if first:
            logging.getLogger(__name__).warning(
                "redis unreachable: local mode (this machine's SQLite store) until it is back",
                extra={"event": "kvstore.local_mode", "store": self.name, "error": type(exc).__name__})

    def _came_back(self) -> None:
        import logging

        with self._state:
            was, self.degraded = self.degraded, False
        if was:
            logging.getLogger(__name__).warning("redis reachable again: shared mode",
                                                extra={"event": "kvstore.shared_mode", "store": self.name})

    def _local_may_hold(self) -> bool:
        return time.time() < self._local_keys_until

    def _wrote_locally(self, ttl_s: float) -> None:
        self._local_keys_until = max(self._local_keys_until, time.time() + ttl_s)

    # ---- KeyValueStore ----------------------------------------------------------------------
    def get(self, key: str) -> Optional[str]:
        ok, value = self._primary("get", key)
        if ok and (value is not None or not self._local_may_hold()):
            return value  # type: ignore[return-value]
        return self.local.get(key)

    def set(self, key: str, value: str, ttl_s: float) -> None:
        ok, _ = self._primary("set", key, value, ttl_s)
        if not ok:
            self.local.set(key, value, ttl_s)
            self._wrote_locally(ttl_s)

    def add(self, key: str, value: str, ttl_s: float) -> bool:
        if self._local_may_hold() and self.local.get(key) is not None:
            return False          # first seen during the outage: still a duplicate
        ok, added = self._primary("add", key, value, ttl_s)
        if ok:
            return bool(added)
        self._wrote_locally(ttl_s)
        return self.local.add(key, value, ttl_s)

    def cas(self, key: str, expected: str, new: str, ttl_s: float) -> bool:
        ok, swapped = self._primary("cas", key, expected, new, ttl_s)
        if ok and (swapped or not self._local_may_hold()):
            return bool(swapped)
        return self.local.cas(key, expected, new, ttl_s)

    def delete_if(self, key: str, expected: str) -> bool:
        ok, deleted = self._primary("delete_if", key, expected)
        if ok and (deleted or not self._local_may_hold()):
            return bool(deleted)
        return self.local.delete_if(key, expected)

    def track(self, index: str, member: str, score: float, ttl_s: float) -> None:
        ok, _ = self._primary("track", index, member, score, ttl_s)
        if not ok:
            self.local.track(index, member, score, ttl_s)
            self._wrote_locally(ttl_s)

    def tracked(self, index: str, max_score: float, limit: int = 200) -> List[str]:
        ok, members = self._primary("tracked", index, max_score, limit)
        found = list(members) if ok else []  # type: ignore[call-overload]
        if not ok or self._local_may_hold():
            found += [m for m in self.local.tracked(index, max_score, limit) if m not in found]
        return found[:limit]

    def untrack(self, index: str, member: str) -> None:
        self._primary("untrack", index, member)
        if self._local_may_hold():
            self.local.untrack(index, member)

    def close(self) -> None:
        for store in (self.primary, self.local):
            try:
                store.close()
            except Exception:
                pass


def open_store(redis_url: str, var_dir: Union[str, Path], name: str = "connectors.sqlite3") -> KeyValueStore:
    """Redis (falling back to ``<var_dir>/<name>`` while it is down) when ``redis_url`` is set, else that file."""
    if redis_url:
        return FailoverStore(RedisStore(redis_url), SqliteStore(Path(var_dir) / name))
    return SqliteStore(Path(var_dir) / name)


@contextmanager
def locked(store: KeyValueStore, name: str, *, ttl_s: float = 15.0, wait_s: float = 10.0,
           poll_s: float = 0.05) -> Iterator[None]:
    """Mutual exclusion across threads, processes and replicas (expires after ``ttl_s``)."""
    key, token = f"lock:{name}", secrets.token_hex(8)
    deadline = time.monotonic() + wait_s
    while not store.add(key, token, ttl_s):
        if time.monotonic() > deadline:
            raise LockTimeout(name)
        time.sleep(poll_s)
    try:
        yield
    finally:
        store.delete_if(key, token)


class async_locked:
    """``async with async_locked(store, name):`` -- :func:`locked` without blocking the event loop.

    ``keep_alive``: renewed every third of ``ttl_s`` while held, so a long critical section keeps the
    lock while a holder that dies frees it within ``ttl_s``. ``lost`` turns true when a renewal finds
    the lock gone (the store lost it, or it expired during a stall): the holder should stop.
    """

    def __init__(self, store: KeyValueStore, name: str, *, ttl_s: float = 300.0,
                 wait_s: float = 60.0, poll_s: float = 0.1, keep_alive: bool = False) -> None:
        self.store, self.key, self.ttl_s, self.wait_s, self.poll_s = store, f"lock:{name}", ttl_s, wait_s, poll_s
        self.token = secrets.token_hex(8)
        self.keep_alive = keep_alive
        self.lost = False
        self._renewer: "Optional[asyncio.Task[None]]" = None

    async def __aenter__(self) -> "async_locked":
        deadline = time.monotonic() + self.wait_s
        while not await asyncio.to_thread(self.store.add, self.key, self.token, self.ttl_s):
            if time.monotonic() > deadline:
                raise LockTimeout(self.key)
            await asyncio.sleep(self.poll_s)
        if self.keep_alive:
            self._renewer = asyncio.ensure_future(self._renew())
        return self

    async def _renew(self) -> None:
        while not self.lost:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                self.lost = not await asyncio.to_thread(self.store.cas, self.key, self.token, self.token, self.ttl_s)
            except Exception:   # store hiccup: the lock still has up to two thirds of its time
                continue

    async def __aexit__(self, *exc: object) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
        await asyncio.to_thread(self.store.delete_if, self.key, self.token)
