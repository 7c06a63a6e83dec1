"""Capture turns without ever slowing down or breaking a conversation.

:class:`TurnRecorder` is a bounded queue drained by one daemon thread that masks, encrypts and
writes in batches. ``submit`` never blocks and never raises: when the database is down the thread
retries with back-off, and when the queue is full new turns are dropped and counted (logged without
content). Used by the Rasa event broker (user and bot turns) and the web service (agent turns).
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any, Callable, List, Mapping, Optional

from transcripts.store import Turn, TranscriptStore, turn_uid

log = logging.getLogger(__name__)


def _bot_text(event: Mapping[str, Any]) -> str:
    """A bot message as a person would read it: the text, button titles, or a custom payload."""
    text = (event.get("text") or "").strip()
    data = event.get("data") or {}
    buttons = data.get("buttons") or data.get("quick_replies") or []
    titles = [str(b.get("title") or "") for b in buttons if isinstance(b, dict) and b.get("title")]
    if titles:
        text = (text + " " if text else "") + "［" + "｜".join(titles) + "］"
    if not text and data.get("custom"):
        text = "[custom] " + json.dumps(data["custom"], ensure_ascii=False, default=str)[:4000]
    if not text and data.get("image"):
        text = "[image] " + str(data["image"])[:500]
    return text


def turn_from_event(event: Mapping[str, Any]) -> Optional[Turn]:
    """A Rasa tracker event (as the event broker receives it) -> a Turn, or None for other events."""
    kind = event.get("event")
    sender = str(event.get("sender_id") or "")
    if kind not in ("user", "bot") or not sender:
        return None
    text = (event.get("text") or "").strip() if kind == "user" else _bot_text(event)
    if not text:
        return None
    try:
        at = float(event.get("timestamp") or time.time())
    except (TypeError, ValueError):
        at = time.time()
    channel = event.get("input_channel") if kind == "user" else None
    uid = turn_uid("rasa", sender, kind, repr(at), str(event.get("message_id") or ""), str(len(text)))
    return Turn(sender, kind, text, at, str(channel) if channel else None, uid)


class TurnRecorder:
    """Queue + writer thread. The store is built lazily in the thread (no database work on submit)."""

    def __init__(self, store_factory: Callable[[], TranscriptStore], *, max_queue: int = 10_000,
                 batch_size: int = 200, retry_s: float = 1.0, max_attempts: int = 8, name: str = "transcripts") -> None:
        self._factory = store_factory
        self._store: Optional[TranscriptStore] = None
        self._queue: "queue.Queue[Turn]" = queue.Queue(max_queue)
        self._batch_size = batch_size
        self._retry_s = retry_s
        self._max_attempts = max_attempts
        self._name = name
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self.stored = 0
        self.dropped = 0
        self.failures = 0
        self._last_drop_log = 0.0

    # ---- producer side (any thread, e.g. Rasa's event loop) ----------------------------------
    def submit(self, turn: Turn) -> bool:
        try:
            self._queue.put_nowait(turn)
            return True
        except queue.Full:
            self._dropped(1, "queue full")
            return False

    def start(self) -> "TurnRecorder":
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        return self

    # ---- writer thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            batch = self._take()
            if not batch:
                continue
            try:
                self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _take(self) -> List[Turn]:
        try:
            batch = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        while len(batch) < self._batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: List[Turn]) -> None:
        for attempt in range(1, self._max_attempts + 1):
            try:
                if self._store is None:
                    self._store = self._factory()
                self.stored += self._store.add(batch)
                return
            except Exception as exc:      # the database may be down: never let it reach the conversation
                self.failures += 1
                log.warning("transcript turns not written yet", extra={
                    "event": "transcripts.write_failed", "attempt": attempt, "turns": len(batch),
                    "error": type(exc).__name__})
                if self._stop.wait(min(30.0, self._retry_s * attempt)) and attempt >= 2:
                    break                 # shutting down: do not hold the process for a dead database
        self._dropped(len(batch), "database unavailable")

    def _dropped(self, count: int, reason: str) -> None:
        self.dropped += count
        now = time.monotonic()
        if now - self._last_drop_log > 10.0:
            self._last_drop_log = now
            log.error("transcript turns dropped", extra={"event": "transcripts.dropped", "reason": reason,
                                                         "dropped_total": self.dropped})

    # ---- lifecycle -------------------------------------------------------------------------
    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far is written or dropped (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._queue.unfinished_tasks

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
