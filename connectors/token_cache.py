"""One access_token per account, shared by every process, refreshed under a lock.

Each fetch of ``cgi-bin/token`` invalidates the previous token, so replicas fetching their own
tokens knock each other out (errcode 40001). Here the token lives in the shared store; only the
lock holder fetches, everyone else re-reads the store after the lock.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Callable, Optional, Tuple

from connectors.kvstore import KeyValueStore, locked

log = logging.getLogger(__name__)

Fetch = Callable[[bool], Tuple[str, int]]   # force_refresh -> (token, expires_in seconds)


class SharedToken:
    """access_token cache in a :class:`KeyValueStore`; ``fetch`` talks to the token endpoint."""

    def __init__(self, store: KeyValueStore, name: str, fetch: Fetch, *,
                 margin_s: float = 300.0, lock_wait_s: float = 15.0) -> None:
        self.store = store
        self.name = name
        self.fetch = fetch
        self.margin_s = margin_s
        self.lock_wait_s = lock_wait_s

    def _cached(self) -> Optional[str]:
        raw = self.store.get(f"token:{self.name}")
        if not raw:
            return None
        data = json.loads(raw)
        if data.get("expires_at", 0) - self.margin_s <= time.time():
            return None
        return data.get("token") or None

    def _store(self, token: str, expires_in: int) -> None:
        ttl = max(60.0, float(expires_in))
        self.store.set(f"token:{self.name}",
                       json.dumps({"token": token, "expires_at": time.time() + ttl}), ttl)

    def get(self) -> str:
        """A valid token: from the cache, or fetched by exactly one caller at a time."""
        token = self._cached()
        if token:
            return token
        with locked(self.store, f"token:{self.name}", ttl_s=self.lock_wait_s + 5, wait_s=self.lock_wait_s):
            token = self._cached()
            if token:
                return token
            token, expires_in = self.fetch(False)
            self._store(token, expires_in)
            log.info("access token fetched", extra={"event": "token.fetched", "account": self.name})
            return token

    def refresh(self, rejected: str) -> str:
        """The API rejected ``rejected`` (40001/42001): replace it unless another caller already did."""
        with locked(self.store, f"token:{self.name}", ttl_s=self.lock_wait_s + 5, wait_s=self.lock_wait_s):
            token = self._cached()
            if token and token != rejected:
                return token
            token, expires_in = self.fetch(True)
            self._store(token, expires_in)
            log.warning("access token force-refreshed", extra={"event": "token.refreshed", "account": self.name})
            return token
