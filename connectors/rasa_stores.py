"""Rasa lock and tracker stores that ride out Redis and PostgreSQL faults (Rasa venv only).

endpoints.yml names these classes by module path (common/stack.py picks the lock store type).

* :class:`FailoverLockStore` -- Rasa's Redis lock store, and this process's in-memory locks while
  Redis is unreachable. Rasa's own ``RedisLockStore`` raises ``LockError`` on every message while
  Redis is down, i.e. the bot stops answering. Here each replica keeps serialising its own messages
  (a user's concurrent messages on *different* replicas are not serialised during the outage), logs
  one warning, tries Redis again every few seconds and logs when it is back.
* :class:`ResilientSQLTrackerStore` -- Rasa's SQL tracker store with ``pool_pre_ping`` and a bounded
  retry. Rasa wraps its tracker store in ``FailSafeTrackerStore``, which answers a failed read with
  "no tracker": after a PostgreSQL restart (or a killed connection) the first message of every
  pooled connection would start a blank conversation -- the quote form, the product context and
  the message itself lost. Pre-ping replaces dead pooled connections before use; the retry covers a
  database that is down for a few seconds (a restart, a fail-over). Also cheaper per turn: new
  events for the event broker found by one COUNT (Rasa re-reads the session), and a SQLite file
  gets pooled connections and a write-ahead log. Each event's JSON (user text, replies, slot values)
  is stored encrypted with the transcript keys (:mod:`transcripts.tracker_crypto`).
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import json
import logging
import time
from typing import Any, Awaitable, Callable, Dict, Iterator, Optional, Text, TypeVar

import sqlalchemy as sa
from rasa.core.lock import TicketLock
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from common.settings import load_settings
from storage.db import sqlite_write_ahead
from transcripts.crypto import KeyRing
from transcripts.tracker_crypto import open_event_data, seal_event_data

log = logging.getLogger(__name__)
T = TypeVar("T")

REDIS_RETRY_AFTER_S = 5.0
REDIS_TIMEOUT_S = 2.0
DB_RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 3.0, 4.0)   # ~10 s: a PostgreSQL restart or fail-over


class FailoverLockStore(LockStore):
    """Redis ticket locks while Redis answers; in-process locks (one warning) while it does not."""

    def __init__(self, endpoint_config: Any = None, *, redis_store: Optional[LockStore] = None,
                 retry_after_s: float = REDIS_RETRY_AFTER_S) -> None:
        if redis_store is None:
            kwargs: Dict[str, Any] = dict(getattr(endpoint_config, "kwargs", {}) or {})
            kwargs.update(_redis_url_credentials())
            kwargs.setdefault("socket_timeout", REDIS_TIMEOUT_S)
            redis_store = RedisLockStore(host=getattr(endpoint_config, "url", None) or "localhost", **kwargs)
            redis_store.red.connection_pool.connection_kwargs["socket_connect_timeout"] = REDIS_TIMEOUT_S
        self.redis = redis_store
        self.local = InMemoryLockStore()
        self.retry_after_s = retry_after_s
        self.degraded = False
        self._skip_until = 0.0
        import redis

        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
        super().__init__()

    def _call(self, op: str, *args: Any) -> Any:
        if time.monotonic() >= self._skip_until:
            try:
                result = getattr(self.redis, op)(*args)
            except self._errors as exc:
                self._skip_until = time.monotonic() + self.retry_after_s
                if not self.degraded:
                    self.degraded = True
                    log.warning("Redis lock store unreachable: local mode (locks in this process only) "
                                "until it is back (%s)", type(exc).__name__)
            else:
                if self.degraded:
                    self.degraded = False
                    log.warning("Redis lock store reachable again: shared locks")
                return result
        return getattr(self.local, op)(*args)

    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        return self._call("get_lock", conversation_id)

    def delete_lock(self, conversation_id: Text) -> None:
        self._call("delete_lock", conversation_id)

    def save_lock(self, lock: TicketLock) -> None:
        self._call("save_lock", lock)


def _redis_url_credentials() -> Dict[str, Any]:
    """Username, password and TLS from REDIS_URL, which endpoints.yml's host/port/db cannot carry."""
    from urllib.parse import unquote, urlsplit

    url = load_settings().redis_url
    if not url:
        return {}
    parts = urlsplit(url)
    found: Dict[str, Any] = {"use_ssl": parts.scheme == "rediss"}
    if parts.username:
        found["username"] = unquote(parts.username)
    if parts.password:
        found["password"] = unquote(parts.password)
    return found


class TrackerDecryptionError(RuntimeError):
    """A stored event does not decrypt under the configured transcript keys."""


# The tracker a channel's turn guard read inside the conversation lock (connectors/turn_guard.py), handed once
# to Rasa's own read of the same conversation in that turn: one database read per turn instead of two.
_turn_reads: contextvars.ContextVar[Optional[Dict[Text, DialogueStateTracker]]] = contextvars.ContextVar(
    "insurebot_turn_reads", default=None)
# events of the latest session a read found in the database, so the save that follows needs no COUNT
_STORED_COUNT_ATTR = "_insurebot_stored_events"


@contextlib.contextmanager
def one_read_per_turn() -> Iterator[None]:
    """Inside: the first read of a conversation is kept and is what the next read of it returns (once).

    Only for code holding the conversation lock (nothing else writes the conversation meanwhile).
    """
    token = _turn_reads.set({})
    try:
        yield
    finally:
        _turn_reads.reset(token)


def _take_stored_count(tracker: DialogueStateTracker) -> Optional[int]:
    """The stored-event count noted when `tracker` was read, once (a later save must count again)."""
    count = getattr(tracker, _STORED_COUNT_ATTR, None)
    if count is not None:
        delattr(tracker, _STORED_COUNT_ATTR)
    return count


_streamed: contextvars.ContextVar[Optional[Dict[str, bool]]] = contextvars.ContextVar(
    "insurebot_tracker_streamed", default=None)


class ResilientSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` whose engine pre-pings pooled connections and whose calls retry briefly."""

    def __init__(self, *args: Any, retry_delays_s: tuple = DB_RETRY_DELAYS_S,
                 keyring: Optional[KeyRing] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_delays_s = retry_delays_s
        # refuses to start outside development without TRANSCRIPT_KEYS (KeyConfigError)
        self.keyring = keyring or KeyRing.from_settings(load_settings())
        url = self.engine.url
        self.engine.dispose()
        kwargs = create_engine_kwargs(url)
        sqlite = url.get_backend_name() == "sqlite"
        if sqlite and url.database not in (None, "", ":memory:"):
            # SQLAlchemy 1.4 opens and closes a new SQLite connection per session (NullPool): ~6% of
            # Rasa's CPU per turn; a small pool keeps them (what SQLAlchemy 2.0 does by default)
            kwargs.update(poolclass=sa.pool.QueuePool, pool_size=5, connect_args={"check_same_thread": False})
        # a server connection can go stale (PostgreSQL restarted): ping it on checkout. A SQLite file cannot,
        # and the ping's round trip cost ~1-2 % of Rasa's event loop per turn (py-spy)
        self.engine = sa.create_engine(url, pool_pre_ping=not sqlite, **kwargs)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", sqlite_write_ahead)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        for attempt, delay in enumerate((*self.retry_delays_s, None)):
            try:
                return await call()
            except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DBAPIError) as exc:
                if delay is None or not _is_connection_problem(exc):
                    raise
                log.warning("tracker store %s failed (%s); retrying in %.1f s (attempt %d)",
                            what, type(exc).__name__, delay, attempt + 1)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _retrieve(self, sender_id: Text, fetch_events_from_all_sessions: bool) -> Any:
        kept = _turn_reads.get()
        if kept is not None and not fetch_events_from_all_sessions and sender_id in kept:
            return kept.pop(sender_id)
        tracker = await self._retrying("read", lambda: self._read_tracker(sender_id, fetch_events_from_all_sessions))
        if kept is not None and not fetch_events_from_all_sessions and tracker is not None:
            kept[sender_id] = tracker
        return tracker

    async def _read_tracker(self, sender_id: Text, fetch_events_from_all_sessions: bool) -> Any:
        """Rasa's SQLTrackerStore._retrieve, decrypting each event's data.

        Decryption happens outside ``session_scope``: Rasa's scope turns any ValueError into "PostgreSQL
        schema not found" and exits the process. A row that does not decrypt raises
        :class:`TrackerDecryptionError`; Rasa's FailSafeTrackerStore logs it and the turn starts from an
        empty tracker, as for any unreadable store.
        """
        with self.session_scope() as session:
            # only the data column: no ORM object per row (half the read's CPU went to building them)
            stored = [data for (data,) in self._event_query(
                session, sender_id, fetch_events_from_all_sessions=fetch_events_from_all_sessions,
            ).with_entities(self.SQLEvent.data).all()]
        try:
            events = [json.loads(open_event_data(self.keyring, sender_id, data) or "{}") for data in stored]
        except ValueError as exc:
            log.error("tracker event does not decrypt (modified, moved, or its key is not configured): %s",
                      type(exc).__name__)
            raise TrackerDecryptionError(str(exc)) from None
        if self.domain and events:
            tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
            if not fetch_events_from_all_sessions:
                setattr(tracker, _STORED_COUNT_ATTR, len(events))   # what `_stored_count` would find
            return tracker
        return None

    async def keys(self) -> Any:
        return await self._retrying("keys", lambda: super(ResilientSQLTrackerStore, self).keys())

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        """Stream this save's new events to the event broker, once however often the write is retried.

        Rasa finds the new events by re-reading and replaying the whole session from the database
        on every save (a second full tracker read per turn, growing with the conversation); the new
        events are exactly the ones `save` is about to write, found with one COUNT query that the
        write then reuses.
        """
        state = _streamed.get()
        if state is not None and state.get("done"):
            return
        if self.event_broker is not None:
            stored = _take_stored_count(tracker)
            if stored is None:
                with self.session_scope() as session:
                    stored = self._stored_count(session, tracker)
            if state is not None:
                state["stored"] = stored      # the write that follows uses this count instead of a second one
            new_events = list(itertools.islice(tracker.events, stored, len(tracker.events)))
            await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)
        if state is not None:
            state["done"] = True

    def _stored_count(self, session: Any, tracker: DialogueStateTracker) -> int:
        """Events of the latest session already in the database (Rasa's `_additional_events` count)."""
        return self._event_query(session, tracker.sender_id, fetch_events_from_all_sessions=False).count()

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        """Rasa's: the tracker's events not stored yet. The count streamed just before is used once; a
        retried write recounts (its first attempt may have committed before the connection broke)."""
        state = _streamed.get()
        stored = state.pop("stored", None) if state is not None else None
        if stored is None:
            stored = _take_stored_count(tracker)
        if stored is None:
            stored = self._stored_count(session, tracker)
        return itertools.islice(tracker.events, stored, len(tracker.events))

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Rasa's save (new events since the stored count, one transaction), retried as a whole.

        A retry recounts the stored events, so a commit that landed before the connection dropped is
        not written twice.
        """
        token = _streamed.set({"done": False})
        try:
            await self._retrying("write", lambda: self._write_tracker(tracker))
        finally:
            _streamed.reset(token)

    async def _write_tracker(self, tracker: DialogueStateTracker) -> None:
        """Rasa's SQLTrackerStore.save, each event's data sealed (SM4-GCM, bound to the sender)."""
        await self.stream_events(tracker)
        with self.session_scope() as session:
            rows = []
            for event in self._additional_events(session, tracker):
                data = event.as_dict()
                rows.append(dict(
                    sender_id=tracker.sender_id, type_name=event.type_name, timestamp=data.get("timestamp"),
                    intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                    action_name=data.get("name"),
                    data=seal_event_data(self.keyring, tracker.sender_id, json.dumps(data))))
            if rows:
                # one INSERT for the turn's rows, no ORM object per event (the ORM flush was half the write)
                session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()


def _is_connection_problem(exc: sa.exc.DBAPIError) -> bool:
    """Worth a retry: the connection broke or the server is (re)starting, not a bad query."""
    if getattr(exc, "connection_invalidated", False) or isinstance(exc, (sa.exc.OperationalError,
                                                                         sa.exc.InterfaceError)):
        return True
    text = str(getattr(exc, "orig", exc)).lower()
    return any(s in text for s in ("server closed the connection", "terminating connection",
                                   "connection refused", "the database system is starting up",
                                   "the database system is shutting down"))
