"""The web service's background loop: relay user messages every ``poll_s``, sweep every few seconds.

A thread (not an asyncio task) because everything it calls is synchronous (DB, connectors' clients).
Several web replicas may each run one: every step is idempotent or guarded by a conditional UPDATE.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Optional

from handoff.service import HandoffService

log = logging.getLogger(__name__)


class HandoffWorker:
    def __init__(self, service: HandoffService, poll_s: float = 1.0, sweep_s: float = 5.0) -> None:
        self.service = service
        self.poll_s = max(0.05, poll_s)
        self.sweep_s = max(self.poll_s, sweep_s)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="handoff-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        next_sweep = time.monotonic() + self.sweep_s
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.service.relay_once()
                if started >= next_sweep:
                    next_sweep = started + self.sweep_s
                    self.service.sweep_once()
            except Exception:
                log.exception("hand-off worker round failed", extra={"event": "handoff.worker_failed"})
            self._stop.wait(max(0.0, self.poll_s - (time.monotonic() - started)))
