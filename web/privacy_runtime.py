"""Wires the privacy features into the web app (docs/privacy.md).

- a :class:`~transcripts.capture.TurnRecorder` per process for the turns the hand-off service sends
  itself (agent replies, system notices), handed to the hand-off service as its ``turn_sink``;
- a purge thread: every ``privacy_purge_interval_s`` exactly one web replica (elected in the
  database) runs the retention purge;
- the start-up check: outside development, no TRANSCRIPT_KEYS = the app refuses to start.

``start(app)`` / ``stop(app)`` are called from the lifespan (web/main.py).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional

from fastapi import FastAPI

from storage.db import get_engine
from transcripts import retention, tracker_events
from transcripts.capture import TurnRecorder
from transcripts.crypto import KeyRing
from transcripts.store import TranscriptStore, Turn, turn_uid

log = logging.getLogger(__name__)
_lock = threading.Lock()
PURGE_JOB = "retention_purge"


def recorder_for(app_state: Any) -> TurnRecorder:
    """The process's recorder (created and started on first use; the keys are read in its thread)."""
    with _lock:
        recorder: Optional[TurnRecorder] = getattr(app_state, "transcript_recorder", None)
        if recorder is None:
            settings = app_state.settings
            url = settings.app_database_url
            recorder = TurnRecorder(lambda: TranscriptStore(get_engine(url), KeyRing.from_settings(settings)),
                                    name="transcripts-web").start()
            app_state.transcript_recorder = recorder
        return recorder


def turn_sink(app_state: Any) -> Callable[..., None]:
    """``HandoffService.turn_sink``: (conversation_id, role, text, channel, key) -> queued turn."""
    def sink(conversation_id: str, role: str, text: str, channel: Optional[str], key: Optional[str]) -> None:
        recorder_for(app_state).submit(Turn(conversation_id, role, text, time.time(), channel,
                                            turn_uid(key) if key else None))
    return sink


def run_purge(app_state: Any, actor: Any = None) -> dict:
    """One retention purge with this process's settings (the worker, the admin API)."""
    settings = app_state.settings
    kwargs = {"actor": actor} if actor is not None else {}
    return retention.purge(app_state.engine, tracker_events.tracker_engine(settings.tracker_store_url),
                           retention_days=settings.transcript_retention_days,
                           quote_retention_days=settings.quote_display_retention_days, **kwargs)


class PurgeWorker:
    """Wakes up every few minutes; runs the purge when this replica wins the interval's election."""

    def __init__(self, app_state: Any, interval_s: float, check_s: float = 300.0, first_delay_s: float = 60.0) -> None:
        self.app_state = app_state
        self.interval_s = interval_s
        self.check_s = min(check_s, interval_s)
        self.first_delay_s = first_delay_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="privacy-purge", daemon=True)
        self.runs = 0

    def start(self) -> "PurgeWorker":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def tick(self) -> bool:
        """Run the purge if it is this replica's turn; True when it ran."""
        if not retention.claim_periodic_run(self.app_state.engine, PURGE_JOB, self.interval_s):
            return False
        run_purge(self.app_state)
        self.runs += 1
        return True

    def _run(self) -> None:
        if self._stop.wait(self.first_delay_s):
            return
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:   # the database may be away: try again at the next check
                log.warning("privacy purge failed", extra={"event": "privacy.purge_failed",
                                                           "error": type(exc).__name__})
            self._stop.wait(self.check_s)


def start(app: FastAPI) -> None:
    app_state = app.state.app_state
    settings = app_state.settings
    KeyRing.from_settings(settings)        # refuse to start outside development without TRANSCRIPT_KEYS
    recorder_for(app_state)
    if settings.privacy_purge_interval_s > 0:
        app.state.privacy_worker = PurgeWorker(app_state, settings.privacy_purge_interval_s).start()


def stop(app: FastAPI) -> None:
    worker = getattr(app.state, "privacy_worker", None)
    if worker is not None:
        worker.stop()
    app_state = app.state.app_state
    with _lock:
        recorder = getattr(app_state, "transcript_recorder", None)
        app_state.transcript_recorder = None
    if recorder is not None:
        recorder.close(5.0)
