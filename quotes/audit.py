"""Proof of display: every quote (or refusal) shown to a user is recorded in the application DB.

The record answers a compliance audit's question "what exactly was this user shown, when, under
which clause and rate versions": quote id, product, clause version, rate version, time, the user
(pseudonym + masked id, never the id in clear) and the full message text. SQLite by default,
PostgreSQL when DATABASE_URL is set (storage.db). The table is created on first use.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping, Optional

from sqlalchemy import Boolean, Column, DateTime, Integer, Numeric, String, Table, Text, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from connectors.logsafe import pseudonym
from storage.db import create_all, metadata

quote_displays = Table(
    "quote_displays", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("quote_id", String(40), nullable=False, index=True),
    Column("product_id", String(40), nullable=False),
    Column("clause_version", String(40), nullable=False),
    Column("rate_version", String(40), nullable=False),
    Column("eligible", Boolean, nullable=False),
    Column("premium_cny", Numeric(12, 2), nullable=True),
    Column("payment_mode", String(16), nullable=True),
    Column("user_ref", String(40), nullable=False, index=True),    # connectors.logsafe.pseudonym: joins logs
    Column("user_masked", String(40), nullable=False),
    Column("channel", String(40), nullable=False),
    Column("shown_at", DateTime(timezone=True), nullable=False, index=True),
    Column("message", Text, nullable=False),
    Column("facts", Text, nullable=False),                        # JSON of the priced facts, no identifiers
)


class DisplayNotRecorded(RuntimeError):
    """The proof-of-display record could not be written: the quote must not be shown."""


def mask_user_id(user_id: str) -> str:
    """'oAbCdEfGhIjK123456' -> 'oAb***456'; short ids are fully masked."""
    if not user_id:
        return "-"
    return f"{user_id[:3]}***{user_id[-3:]}" if len(user_id) >= 10 else "***"


@dataclass(frozen=True)
class DisplayRecord:
    quote_id: str
    product_id: str
    clause_version: str
    rate_version: str
    eligible: bool
    premium_cny: Optional[Decimal]
    payment_mode: Optional[str]
    user_id: str
    channel: str
    shown_at: dt.datetime
    message: str
    facts: Mapping[str, Any]


class DisplayRecorder:
    """Writes DisplayRecords through one engine; creates its table once (idempotent, race-safe)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._ready = False
        self._lock = threading.Lock()

    def _ensure_table(self) -> None:
        if self._ready:
            return
        with self._lock:
            if not self._ready:
                try:
                    create_all(self.engine)
                except SQLAlchemyError:
                    # another process created it between the existence check and CREATE: check again
                    quote_displays.create(self.engine, checkfirst=True)
                self._ready = True

    def record(self, rec: DisplayRecord) -> int:
        """Insert one record and return its row id; raises DisplayNotRecorded on any DB failure."""
        row = {
            "quote_id": rec.quote_id, "product_id": rec.product_id, "clause_version": rec.clause_version,
            "rate_version": rec.rate_version, "eligible": rec.eligible, "premium_cny": rec.premium_cny,
            "payment_mode": rec.payment_mode, "user_ref": pseudonym(rec.user_id),
            "user_masked": mask_user_id(rec.user_id), "channel": rec.channel[:40],
            "shown_at": rec.shown_at, "message": rec.message,
            "facts": json.dumps(dict(rec.facts), ensure_ascii=False, default=str, sort_keys=True),
        }
        try:
            self._ensure_table()
            with self.engine.begin() as conn:
                result = conn.execute(insert(quote_displays).values(**row))
                return int(result.inserted_primary_key[0])
        except SQLAlchemyError as exc:
            raise DisplayNotRecorded(f"{type(exc).__name__}: {exc}") from exc

    def for_quote(self, quote_id: str) -> list[dict[str, Any]]:
        """Every display of one quote (an audit looks records up by quote id)."""
        self._ensure_table()
        with self.engine.connect() as conn:
            rows = conn.execute(select(quote_displays).where(quote_displays.c.quote_id == quote_id)
                                .order_by(quote_displays.c.id))
            return [dict(r._mapping) for r in rows]

    def for_user(self, user_id: str) -> list[dict[str, Any]]:
        """Every display shown to one user (looked up through the same pseudonym the logs use)."""
        self._ensure_table()
        with self.engine.connect() as conn:
            rows = conn.execute(select(quote_displays).where(quote_displays.c.user_ref == pseudonym(user_id))
                                .order_by(quote_displays.c.id))
            return [dict(r._mapping) for r in rows]
