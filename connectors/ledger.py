"""Exactly-once bookkeeping for inbound messages (dedupe across WeChat retries and replicas).

One record per message key moves ``running`` -> ``done``; who delivers the answer (the HTTP
response of some attempt = ``passive``, or the customer-service API = ``custom``) is decided by an
atomic compare-and-set, so the answer goes out once even when retries land on other replicas.

A running record carries its owner and a short lease that the owner renews while its turn runs. A
process killed mid-turn (``kill -9``, OOM, a crashed host) stops renewing, so a WeChat retry that
finds the lease expired takes the turn over instead of waiting for an answer nobody will send. A
takeover of a turn that was in fact still alive costs nothing: the Rasa turn runner checks the
tracker for the message id under the conversation lock and replays the stored answer
(:mod:`connectors.turn_guard`), and only the current owner's ``finish`` delivers.

WeChat stops retrying once an attempt got ``success``: a process killed after acknowledging a slow
turn would leave it with nobody to retry it. So owned turns are also listed in an index of open
turns, with the message sealed in the record (SM4, :mod:`transcripts.crypto`); every replica sweeps
that index and takes over (or delivers) what a dead owner left (``WeChatWebhook.recover_orphans``).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Dict, List, Optional, Tuple

from connectors.kvstore import KeyValueStore

# WeChat retries for ~15 s and stale timestamps (>300 s) are refused, so 15 minutes covers
# every legitimate retry and every replay we could still accept.
RECORD_TTL_S = 900.0
# WeChat retries 5 s after a failed attempt: a lease shorter than that lets the first retry take over
# from a dead owner. The owner renews every LEASE_S / 4, so a live turn keeps its lease unless its
# process stalls for seconds (then the takeover replays the answer; see the module docstring).
LEASE_S = 4.0
SIGNATURE_TTL_S = 360.0                 # plain-mode signatures remembered past the 300-s timestamp window
OPEN_TURNS = "open-turns"               # index of owned turns not yet delivered (for the orphan sweep)


@dataclass(frozen=True)
class TurnRecord:
    state: str = "running"              # running | done
    waiting_until: float = 0.0          # wall-clock time until which some HTTP attempt waits
    texts: List[str] = field(default_factory=list)
    delivery: str = ""                  # "" (open) | passive | custom | none
    outcome: str = ""                   # delivery result, e.g. sent, failed:45015
    owner: str = ""                     # process running the turn (empty: written by an older version)
    lease_until: float = 0.0            # wall-clock; 0 = no lease (never taken over)
    sealed: str = ""                    # the message's XML fields, SM4-encrypted (orphan recovery)
    menus: List[Optional[Dict[str, Any]]] = field(default_factory=list)   # per text: its menu message, if any

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

    def bind_signature(self, signature: str, key: str) -> bool:
        """Plain mode: False when ``signature`` already came with another message.

        A plain-mode signature covers token, timestamp and nonce but not the body, so a captured
        URL could carry a forged body with a new MsgId for as long as its timestamp is accepted.
        Each signature is bound to the first message it came with; WeChat's retries of that message
        still pass. Kept a little longer than the 300-s timestamp window.
        """
        name = f"sig:{signature.lower()}"
        if self.store.add(name, key, SIGNATURE_TTL_S):
            return True
        return self.store.get(name) in (key, None)

    def claim(self, key: str, waiting_until: float, owner: str = "", lease_s: float = LEASE_S,
              sealed: str = "") -> Tuple[bool, Optional[TurnRecord]]:
        """(True, record) if this caller owns the turn; (False, current record) for a duplicate.

        With ``sealed`` (the message, encrypted) the turn is listed among the open turns, so that
        another process can finish it if this one dies after acknowledging it.
        """
        now = time.time()
        record = TurnRecord(waiting_until=waiting_until, owner=owner,
                            lease_until=now + lease_s if owner else 0.0, sealed=sealed)
        if self.store.add(key, record.dump(), self.ttl_s):
            if sealed:
                self.store.track(OPEN_TURNS, key, now, self.ttl_s)
            return True, record
        return False, self.get(key)

    def open_turns(self, claimed_before: float, limit: int = 200) -> List[str]:
        """Keys of turns claimed before ``claimed_before`` that nobody has marked delivered yet."""
        return self.store.tracked(OPEN_TURNS, claimed_before, limit)

    def close_turn(self, key: str) -> None:
        """The turn's answer is out (or decided): drop it from the open turns."""
        self.store.untrack(OPEN_TURNS, key)

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

    def finish(self, key: str, texts: List[str], delivery: str = "",
               owner: Optional[str] = None,
               menus: Optional[List[Optional[Dict[str, Any]]]] = None) -> Optional[TurnRecord]:
        """Store the answer; ``delivery`` pre-decides it (custom for long answers and menu messages,
        none for silence). ``menus``: aligned with ``texts``, the menu message a text is sent as.

        With ``owner``: only while that owner still holds the running turn; None means another process
        took it over (or finished it) and delivers, so the caller must not.
        """
        def change(r: TurnRecord) -> Optional[TurnRecord]:
            if owner is not None and (r.state != "running" or (r.owner and r.owner != owner)):
                return None
            return replace(r, state="done", texts=list(texts), delivery=r.delivery or delivery,
                           menus=list(menus or []))

        return self.update(key, change)

    def renew(self, key: str, owner: str, lease_s: float = LEASE_S) -> Optional[TurnRecord]:
        """Extend the owner's lease; None when the turn is finished or no longer this owner's."""
        until = time.time() + lease_s
        return self.update(key, lambda r: replace(r, lease_until=max(until, r.lease_until))
                           if r.state == "running" and r.owner == owner else None)

    def take_over(self, key: str, owner: str, lease_s: float = LEASE_S) -> Optional[TurnRecord]:
        """Become the owner of a running turn whose owner stopped renewing its lease; None otherwise."""
        now = time.time()
        return self.update(key, lambda r: replace(r, owner=owner, lease_until=now + lease_s)
                           if r.state == "running" and 0 < r.lease_until < now else None)

    def extend_wait(self, key: str, until: float) -> Optional[TurnRecord]:
        return self.update(key, lambda r: replace(r, waiting_until=until) if until > r.waiting_until else None)

    def claim_delivery(self, key: str, how: str) -> Optional[TurnRecord]:
        """Become the one deliverer of a finished answer; None if someone else already is."""
        return self.update(key, lambda r: replace(r, delivery=how)
                           if r.state == "done" and not r.delivery else None)

    def record_outcome(self, key: str, outcome: str) -> None:
        self.update(key, lambda r: replace(r, outcome=outcome))

