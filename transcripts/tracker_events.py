"""Rasa's SQL tracker store (table ``events``): a user's erasure, the retention purge, key rotation.

The table is Rasa's (rasa.core.tracker_store.SQLTrackerStore.SQLEvent); it is declared here on a
private MetaData so the application's ``create_all`` never creates it. SQLite files are opened
without changing their journal mode, and a missing file is not created (Rasa never ran here).

Erasing inside a conversation turn (the ``action_delete_my_data`` action) needs care: Rasa keeps
the turn's tracker in memory and, when it saves, writes only the events after the number it finds
stored for the latest session (``SQLTrackerStore._additional_events``) and streams the same
difference to the event broker. Deleting every row would make it write the whole session back.
So :func:`erase_sender` leaves exactly ``keep_count`` neutral ``reset_slots`` events (no text, no
session start): Rasa then stores and publishes only what happens after the action.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional

from sqlalchemy import (Column, Float, Integer, MetaData, String, Table, Text, create_engine, delete, func, inspect,
                        insert, select, update)
from sqlalchemy.engine import Engine

from transcripts.crypto import PREFIX, KeyRing
from transcripts.tracker_crypto import open_event_data, seal_event_data

tracker_metadata = MetaData()
events = Table(
    "events", tracker_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)

NEUTRAL_EVENT = "reset_slots"    # AllSlotsReset: no text, no session start, ignored by analytics
_engines: Dict[str, Engine] = {}
_lock = threading.Lock()


def tracker_engine(url: str) -> Optional[Engine]:
    """A writable engine on the tracker store, or None when its SQLite file does not exist."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:" and not Path(path).exists():
            return None
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg2://" + url.split("://", 1)[1]   # SQLAlchemy 2.x would pick psycopg 3
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)
            _engines[url] = engine
        return engine


def has_events_table(engine: Engine) -> bool:
    return inspect(engine).has_table("events")


def erase_sender(engine: Engine, sender_id: str, keep_count: Optional[int] = None,
                 now: Optional[float] = None) -> int:
    """Delete every event of ``sender_id``; returns how many. With ``keep_count`` (called from an action
    during the user's turn: ``len(tracker.events)``), leave that many neutral events (see module doc)."""
    if not has_events_table(engine):
        return 0
    with engine.begin() as conn:
        deleted = conn.execute(delete(events).where(events.c.sender_id == sender_id)).rowcount or 0
        if keep_count:
            at = time.time() if now is None else now
            data = json.dumps({"event": NEUTRAL_EVENT, "timestamp": at})
            conn.execute(insert(events), [{"sender_id": sender_id, "type_name": NEUTRAL_EVENT, "timestamp": at,
                                           "intent_name": None, "action_name": None, "data": data}
                                          for _ in range(int(keep_count))])
    return deleted


def purge_before(engine: Engine, cutoff: float, is_held: Callable[[str], bool], batch: int = 200) -> int:
    """Delete events older than ``cutoff`` of every sender that is not on legal hold; returns how many."""
    if not has_events_table(engine):
        return 0
    with engine.connect() as conn:
        senders = [r[0] for r in conn.execute(select(events.c.sender_id).where(events.c.timestamp < cutoff)
                                              .distinct())]
    targets = [s for s in senders if not is_held(s)]
    deleted = 0
    for chunk in _chunks(targets, batch):
        with engine.begin() as conn:
            deleted += conn.execute(delete(events).where(events.c.sender_id.in_(chunk),
                                                         events.c.timestamp < cutoff)).rowcount or 0
    return deleted


def reseal(engine: Engine, keyring: KeyRing, batch: int = 500) -> Dict[str, int]:
    """Re-encrypt every event's data under the active key (plain rows of older versions included).

    Resumable and safe next to a running Rasa: rows are visited by id, and a row is updated only if
    its data is still what was read. Rows that do not decrypt are counted and left as they are.
    """
    if not has_events_table(engine):
        return {"rotated": 0, "failed": 0, "remaining": 0}
    current = f"{PREFIX}.{keyring.active_id}.%"
    rotated = failed = last_id = 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(select(events.c.id, events.c.sender_id, events.c.data)
                                .where(events.c.id > last_id, events.c.data.is_not(None),
                                       events.c.data.not_like(current))
                                .order_by(events.c.id).limit(batch)).all()
        if not rows:
            break
        last_id = rows[-1].id
        with engine.begin() as conn:
            for row in rows:
                try:
                    plain = open_event_data(keyring, row.sender_id, row.data)
                except ValueError:
                    failed += 1
                    continue
                rotated += conn.execute(update(events).where(events.c.id == row.id, events.c.data == row.data)
                                        .values(data=seal_event_data(keyring, row.sender_id, plain or "{}"))
                                        ).rowcount or 0
    with engine.connect() as conn:
        remaining = int(conn.execute(select(func.count()).select_from(events)
                                     .where(events.c.data.is_not(None), events.c.data.not_like(current))).scalar() or 0)
    return {"rotated": rotated, "failed": failed, "remaining": remaining}


def _chunks(items: List[str], size: int) -> Iterable[List[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
