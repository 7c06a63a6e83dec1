"""Hand-off records, agents' load and the relayed messages, in the application database.

Every state change is one conditional UPDATE (``... WHERE status IN (...)``) checked by its row
count, so concurrent web replicas, the console and the background worker can race safely:

- one open hand-off per conversation: ``open_key`` (= conversation id while open, NULL once
  ended) is UNIQUE;
- one agent per hand-off: assignment is ``UPDATE handoffs ... WHERE id = ? AND status IN
  ('queued', 'callback')``: of two agents claiming at once exactly one gets rowcount 1;
- agent capacity: ``UPDATE handoff_agents SET active_chats = active_chats + 1 WHERE ... AND
  active_chats < capacity`` in the same transaction (rolled back together);
- a relayed user message is stored once: UNIQUE (handoff_id, event_key).

Transactions always touch the hand-off row before the agent row (no lock-order deadlocks on
PostgreSQL). Times are epoch seconds (float) from the injected clock.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

from sqlalchemy import (Column, Float, Integer, String, Table, Text, UniqueConstraint, and_, func, insert,
                        or_, select, update)
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import IntegrityError

from common.masking import mask_text
from storage.db import metadata

AGENT_STATUSES = ("online", "busy", "offline")
DEFAULT_SKILLS = ("sales", "claims", "complaints")

QUEUED, ACTIVE, CALLBACK, ENDED = "queued", "active", "callback", "ended"
OPEN_STATUSES = (QUEUED, ACTIVE, CALLBACK)
PAUSED_STATUSES = (QUEUED, ACTIVE)          # the Rasa conversation is paused in these

agents = Table(
    "handoff_agents", metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=False),   # web.auth users.id
    Column("status", String(16), nullable=False, default="offline"),
    Column("skills", String(128), nullable=False, default=",".join(DEFAULT_SKILLS)),
    Column("capacity", Integer, nullable=False, default=3),
    Column("active_chats", Integer, nullable=False, default=0),
    Column("assigned_total", Integer, nullable=False, default=0),
    Column("last_assigned_at", Float, nullable=False, default=0.0),
    Column("updated_at", Float, nullable=False, default=0.0),
)

handoffs = Table(
    "handoffs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(128), nullable=False, index=True),
    Column("open_key", String(128), nullable=True, unique=True),         # conversation id while open
    Column("channel", String(32), nullable=False, default="rest"),
    Column("open_kfid", String(64), nullable=True),
    Column("kind", String(16), nullable=False, default="live"),          # live | callback
    Column("reason", String(32), nullable=False),
    Column("skill", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("agent_id", Integer, nullable=True, index=True),
    Column("created_at", Float, nullable=False),
    Column("queued_at", Float, nullable=False),
    Column("assigned_at", Float, nullable=True),
    Column("ended_at", Float, nullable=True),
    Column("last_message_at", Float, nullable=False),
    Column("watch_until", Float, nullable=True),       # callback: user messages attached until then
    Column("notified_at", Float, nullable=True),
    Column("notify_error", String(200), nullable=True),
    Column("end_reason", String(32), nullable=True),
    Column("ended_by", Integer, nullable=True),
    Column("wait_s", Float, nullable=True),
    Column("duration_s", Float, nullable=True),
    Column("rating", Integer, nullable=True),
    Column("rating_due_until", Float, nullable=True),
    Column("card", Text, nullable=False, default="{}"),
    Column("transcript", Text, nullable=True),
)

messages = Table(
    "handoff_messages", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("handoff_id", Integer, nullable=False, index=True),
    Column("role", String(16), nullable=False),        # user | agent | system
    Column("text", Text, nullable=False),
    Column("author", String(64), nullable=True),
    Column("event_key", String(160), nullable=True),
    Column("delivery", String(40), nullable=True),     # sent | outbox | native | failed:<errcode> | agent
    Column("created_at", Float, nullable=False),
    UniqueConstraint("handoff_id", "event_key", name="uq_handoff_message_event"),
)


@dataclass(frozen=True)
class AgentLoad:
    user_id: int
    status: str
    skills: frozenset
    capacity: int
    active_chats: int
    last_assigned_at: float
    assigned_total: int = 0


def _agent(row: Row) -> AgentLoad:
    return AgentLoad(row.user_id, row.status, frozenset(s for s in row.skills.split(",") if s), row.capacity,
                     row.active_chats, row.last_assigned_at, row.assigned_total)


def card_of(row: Row) -> dict[str, Any]:
    try:
        return json.loads(row.card or "{}")
    except ValueError:
        return {}


class HandoffStore:
    """All reads and writes of the three tables."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time, default_capacity: int = 3) -> None:
        self.engine = engine
        self.clock = clock
        self.default_capacity = default_capacity

    # ---- agents ------------------------------------------------------------------------------
    def ensure_agent(self, user_id: int) -> AgentLoad:
        with self.engine.begin() as conn:
            row = conn.execute(select(agents).where(agents.c.user_id == user_id)).first()
        if row is None:
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(agents).values(user_id=user_id, status="offline",
                                                       skills=",".join(DEFAULT_SKILLS),
                                                       capacity=self.default_capacity, active_chats=0,
                                                       assigned_total=0, last_assigned_at=0.0,
                                                       updated_at=self.clock()))
            except IntegrityError:
                pass  # created concurrently
            with self.engine.connect() as conn:
                row = conn.execute(select(agents).where(agents.c.user_id == user_id)).one()
        return _agent(row)

    def set_agent_status(self, user_id: int, status: str) -> AgentLoad:
        if status not in AGENT_STATUSES:
            raise ValueError(f"status must be one of {AGENT_STATUSES}")
        self.ensure_agent(user_id)
        with self.engine.begin() as conn:
            conn.execute(update(agents).where(agents.c.user_id == user_id)
                         .values(status=status, updated_at=self.clock()))
        return self.ensure_agent(user_id)

    def set_agent_skills(self, user_id: int, skills: Iterable[str], capacity: Optional[int] = None) -> AgentLoad:
        chosen = [s for s in DEFAULT_SKILLS if s in set(skills)]
        if not chosen:
            raise ValueError("at least one skill")
        self.ensure_agent(user_id)
        values: dict[str, Any] = {"skills": ",".join(chosen), "updated_at": self.clock()}
        if capacity is not None:
            if not 1 <= capacity <= 50:
                raise ValueError("capacity must be 1-50")
            values["capacity"] = capacity
        with self.engine.begin() as conn:
            conn.execute(update(agents).where(agents.c.user_id == user_id).values(**values))
        return self.ensure_agent(user_id)

    def agent_loads(self) -> list[AgentLoad]:
        with self.engine.connect() as conn:
            return [_agent(r) for r in conn.execute(select(agents).order_by(agents.c.user_id))]

    def agents_on_duty(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(agents)
                                    .where(agents.c.status.in_(("online", "busy")))).scalar_one())

    # ---- hand-offs ---------------------------------------------------------------------------
    def create(self, *, conversation_id: str, channel: str, reason: str, skill: str, card: dict[str, Any],
               status: str, open_kfid: Optional[str] = None,
               watch_until: Optional[float] = None) -> tuple[Row, bool]:
        """(row, created). An open hand-off of the conversation is returned instead of a second one."""
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                new_id = conn.execute(insert(handoffs).values(
                    conversation_id=conversation_id, open_key=conversation_id, channel=channel,
                    open_kfid=open_kfid, kind="callback" if status == CALLBACK else "live", reason=reason,
                    skill=skill, status=status, created_at=now, queued_at=now, last_message_at=now,
                    watch_until=watch_until, card=json.dumps(card, ensure_ascii=False))).inserted_primary_key[0]
        except IntegrityError:
            existing = self.open_for(conversation_id)
            if existing is None:          # it ended between the insert and this read: try once more
                return self.create(conversation_id=conversation_id, channel=channel, reason=reason, skill=skill,
                                   card=card, status=status, open_kfid=open_kfid, watch_until=watch_until)
            return existing, False
        return self.get(new_id), True

    def get(self, handoff_id: int) -> Optional[Row]:
        with self.engine.connect() as conn:
            return conn.execute(select(handoffs).where(handoffs.c.id == handoff_id)).first()

    def open_for(self, conversation_id: str) -> Optional[Row]:
        with self.engine.connect() as conn:
            return conn.execute(select(handoffs).where(handoffs.c.open_key == conversation_id)).first()

    def list(self, statuses: Iterable[str], *, agent_id: Optional[int] = None, limit: int = 200) -> list[Row]:
        query = select(handoffs).where(handoffs.c.status.in_(tuple(statuses)))
        if agent_id is not None:
            query = query.where(handoffs.c.agent_id == agent_id)
        with self.engine.connect() as conn:
            return list(conn.execute(query.order_by(handoffs.c.queued_at, handoffs.c.id).limit(limit)))

    def recent(self, limit: int = 50, agent_id: Optional[int] = None) -> list[Row]:
        query = select(handoffs).where(handoffs.c.status == ENDED)
        if agent_id is not None:
            query = query.where(handoffs.c.agent_id == agent_id)
        with self.engine.connect() as conn:
            return list(conn.execute(query.order_by(handoffs.c.ended_at.desc()).limit(limit)))

    def queue_position(self, row: Row) -> int:
        """How many live hand-offs wait ahead of ``row`` (FIFO)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(handoffs).where(
                handoffs.c.status == QUEUED,
                or_(handoffs.c.queued_at < row.queued_at,
                    and_(handoffs.c.queued_at == row.queued_at, handoffs.c.id < row.id)))).scalar_one())

    def watched(self, now: float) -> list[Row]:
        """Hand-offs whose conversation the relay reads: paused ones, open callback windows, due ratings."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(handoffs).where(or_(
                handoffs.c.status.in_(PAUSED_STATUSES),
                and_(handoffs.c.status == CALLBACK, handoffs.c.watch_until > now),
                and_(handoffs.c.status == ENDED, handoffs.c.rating.is_(None), handoffs.c.rating_due_until > now),
            )).order_by(handoffs.c.id)))

    def requeue_callback(self, handoff_id: int, card: Optional[dict[str, Any]] = None) -> bool:
        """A callback ticket becomes a live hand-off again (the user asked again during service hours)."""
        values: dict[str, Any] = {"status": QUEUED, "kind": "live", "queued_at": self.clock(),
                                  "last_message_at": self.clock(), "watch_until": None}
        if card is not None:
            values["card"] = json.dumps(card, ensure_ascii=False)
        with self.engine.begin() as conn:
            return conn.execute(update(handoffs).where(handoffs.c.id == handoff_id, handoffs.c.status == CALLBACK)
                                .values(**values)).rowcount == 1

    def to_callback(self, handoff_id: int) -> bool:
        """A queued hand-off nobody took becomes a callback ticket (the bot resumes)."""
        with self.engine.begin() as conn:
            return conn.execute(update(handoffs).where(handoffs.c.id == handoff_id, handoffs.c.status == QUEUED)
                                .values(status=CALLBACK, kind="callback", watch_until=None)).rowcount == 1

    def assign(self, handoff_id: int, agent_id: int, *, respect_capacity: bool = True) -> bool:
        """Atomically give a queued/callback hand-off to ``agent_id``; False if someone else was faster,
        or (auto-assignment) the agent went offline/full meanwhile."""
        now = self.clock()
        with self.engine.connect() as conn:
            with conn.begin() as tx:
                taken = conn.execute(
                    update(handoffs).where(handoffs.c.id == handoff_id, handoffs.c.status.in_((QUEUED, CALLBACK)))
                    .values(status=ACTIVE, agent_id=agent_id, assigned_at=now, last_message_at=now,
                            watch_until=None, wait_s=now - handoffs.c.queued_at)).rowcount
                if taken != 1:
                    tx.rollback()
                    return False
                guard = [agents.c.user_id == agent_id]
                if respect_capacity:
                    guard += [agents.c.status == "online", agents.c.active_chats < agents.c.capacity]
                loaded = conn.execute(update(agents).where(*guard).values(
                    active_chats=agents.c.active_chats + 1, assigned_total=agents.c.assigned_total + 1,
                    last_assigned_at=now, updated_at=now)).rowcount
                if loaded != 1:
                    tx.rollback()
                    return False
        return True

    def end(self, handoff_id: int, *, reason: str, ended_by: Optional[int] = None,
            rating_window_s: float = 0.0) -> Optional[Row]:
        """Close an open hand-off once; returns the row as it was before, or None if already closed."""
        now = self.clock()
        before = self.get(handoff_id)
        if before is None or before.status not in OPEN_STATUSES:
            return None
        with self.engine.connect() as conn:
            with conn.begin():
                done = conn.execute(update(handoffs).where(
                    handoffs.c.id == handoff_id, handoffs.c.status == before.status,
                    handoffs.c.open_key.is_not(None)).values(
                    status=ENDED, open_key=None, ended_at=now, end_reason=reason, ended_by=ended_by,
                    duration_s=(now - before.assigned_at) if before.assigned_at else 0.0,
                    rating_due_until=(now + rating_window_s) if before.agent_id and rating_window_s else None,
                )).rowcount
                if done != 1:
                    return None
                if before.status == ACTIVE and before.agent_id is not None:
                    conn.execute(update(agents).where(agents.c.user_id == before.agent_id,
                                                      agents.c.active_chats > 0)
                                 .values(active_chats=agents.c.active_chats - 1, updated_at=now))
        return before

    def touch(self, handoff_id: int, at: Optional[float] = None, *, extend_watch_s: Optional[float] = None) -> None:
        at = at or self.clock()
        values: dict[str, Any] = {"last_message_at": at}
        if extend_watch_s:
            values["watch_until"] = at + extend_watch_s
        with self.engine.begin() as conn:
            conn.execute(update(handoffs).where(handoffs.c.id == handoff_id).values(**values))

    def mark_notified(self, handoff_id: int, error: Optional[str] = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(handoffs).where(handoffs.c.id == handoff_id).values(
                notified_at=None if error else self.clock(), notify_error=(error or None) and error[:200]))

    def set_rating(self, handoff_id: int, rating: Optional[int]) -> bool:
        """Store the rating once (``None`` = the user did not rate: stop waiting)."""
        values: dict[str, Any] = {"rating_due_until": None}
        if rating is not None:
            if not 1 <= rating <= 5:
                raise ValueError("rating must be 1-5")
            values["rating"] = rating
        with self.engine.begin() as conn:
            return conn.execute(update(handoffs).where(handoffs.c.id == handoff_id, handoffs.c.rating.is_(None))
                                .values(**values)).rowcount == 1

    def finalize_transcript(self, handoff_id: int) -> list[dict[str, Any]]:
        """Mask the relayed messages in place and store the masked transcript on the record."""
        row = self.get(handoff_id)
        if row is None:
            return []
        card = card_of(row)
        transcript = [{"role": t["role"], "text": mask_text(t["text"]), "at": t.get("at"), "phase": "bot"}
                      for t in card.get("turns", [])]
        with self.engine.begin() as conn:
            for msg in conn.execute(select(messages).where(messages.c.handoff_id == handoff_id)
                                    .order_by(messages.c.id)).all():
                masked = mask_text(msg.text)
                if masked != msg.text:
                    conn.execute(update(messages).where(messages.c.id == msg.id).values(text=masked))
                transcript.append({"role": msg.role, "text": masked, "at": msg.created_at,
                                   "author": msg.author, "phase": "handoff"})
            conn.execute(update(handoffs).where(handoffs.c.id == handoff_id)
                         .values(transcript=json.dumps(transcript, ensure_ascii=False)))
        return transcript

    # ---- messages ----------------------------------------------------------------------------
    def add_message(self, handoff_id: int, role: str, text: str, *, author: Optional[str] = None,
                    event_key: Optional[str] = None, delivery: Optional[str] = None,
                    at: Optional[float] = None) -> Optional[int]:
        """The new message id, or None when ``event_key`` was already stored (relayed twice)."""
        try:
            with self.engine.begin() as conn:
                return int(conn.execute(insert(messages).values(
                    handoff_id=handoff_id, role=role, text=text, author=author, event_key=event_key,
                    delivery=delivery, created_at=at or self.clock())).inserted_primary_key[0])
        except IntegrityError:
            return None

    def set_delivery(self, message_id: int, delivery: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(messages).where(messages.c.id == message_id).values(delivery=delivery[:40]))

    def messages(self, handoff_id: int, after_id: int = 0) -> list[Row]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(messages).where(messages.c.handoff_id == handoff_id,
                                                            messages.c.id > after_id).order_by(messages.c.id)))

    def outbox(self, conversation_id: str, after_id: int = 0, limit: int = 100) -> list[Row]:
        """Messages to the user (agent and system) of a conversation's hand-offs, for the REST channel."""
        with self.engine.connect() as conn:
            return list(conn.execute(
                select(messages.c.id, messages.c.role, messages.c.text, messages.c.author, messages.c.created_at,
                       messages.c.handoff_id)
                .join(handoffs, handoffs.c.id == messages.c.handoff_id)
                .where(handoffs.c.conversation_id == conversation_id, messages.c.id > after_id,
                       messages.c.role.in_(("agent", "system")))
                .order_by(messages.c.id).limit(limit)))
