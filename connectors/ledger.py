"""Exactly-once bookkeeping for inbound messages (dedupe across WeChat retries and replicas).

One record per message key moves ``running`` -> ``done``; who delivers the answer (the HTTP
response of some attempt = ``passive``, or the customer-service API = ``custom``) is decided by an
atomic compare-and-set, so the answer goes out once even when retries land on other replicas.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, List, Optional, Tuple

from connectors.kvstore import KeyValueStore

# WeChat retries for ~15 s and stale timestamps (>300 s) are refused, so 15 minutes covers
# every legitimate retry and every replay we could still accept.
RECORD_TTL_S = 900.0


@dataclass(frozen=True)
class TurnRecord:
    state: str = "running"              # running | done
    waiting_until: float = 0.0          # wall-clock time until which some HTTP attempt waits
    texts: List[str] = field(default_factory=list)
    delivery: str = ""                  # "" (open) | passive | custom | none
    outcome: str = ""                   # delivery result, e.g. sent, failed:45015

    def dump(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def load(cls, raw: str) -> "TurnRecord":
        data = json.loads(raw)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class TurnLedger:
    """Atomic state transitions of :class:`TurnRecord` on a :class:`KeyValueStore`."""

    def __init__(self, store: KeyValueStore, ttl_s: float = RECORD_TTL_S) -> None:
        self.store = store
        self.ttl_s = ttl_s

    def claim(self, key: str, waiting_until: float) -> Tuple[bool, Optional[TurnRecord]]:
        """(True, record) if this caller owns the turn; (False, current record) for a duplicate."""
        record = TurnRecord(waiting_until=waiting_until)
        if self.store.add(key, record.dump(), self.ttl_s):
            return True, record
        return False, self.get(key)

    def get(self, key: str) -> Optional[TurnRecord]:
        raw = self.store.get(key)
        return TurnRecord.load(raw) if raw else None

    def update(self, key: str, change: Callable[[TurnRecord], Optional[TurnRecord]]) -> Optional[TurnRecord]:
        """Apply ``change`` atomically (CAS loop); ``change`` returns None to leave it as is."""
        for _ in range(50):
            raw = self.store.get(key)
            if raw is None:
                return None
            new = change(TurnRecord.load(raw))
            if new is None:
                return None
            if self.store.cas(key, raw, new.dump(), self.ttl_s):
                return new
        raise RuntimeError(f"ledger contention on {key}")

    def finish(self, key: str, texts: List[str], delivery: str = "") -> Optional[TurnRecord]:
        """Store the answer; ``delivery`` pre-decides it (custom for long answers, none for silence)."""
        return self.update(key, lambda r: replace(r, state="done", texts=list(texts),
                                                  delivery=r.delivery or delivery))

    def extend_wait(self, key: str, until: float) -> Optional[TurnRecord]:
        return self.update(key, lambda r: replace(r, waiting_until=until) if until > r.waiting_until else None)

    def claim_delivery(self, key: str, how: str) -> Optional[TurnRecord]:
        """Become the one deliverer of a finished answer; None if someone else already is."""
        return self.update(key, lambda r: replace(r, delivery=how)
                           if r.state == "done" and not r.delivery else None)

    def record_outcome(self, key: str, outcome: str) -> None:
        self.update(key, lambda r: replace(r, outcome=outcome))

