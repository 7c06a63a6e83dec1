"""Rasa event broker that records user and bot turns as encrypted transcripts (loaded by Rasa only).

endpoints.yml: ``event_broker: {type: transcripts.broker.TranscriptEventBroker}``. Rasa calls
``publish`` synchronously on its event loop for every new tracker event, just before the tracker
store saves them; here it only converts the event and puts it on a bounded queue (microseconds).
A thread writes to the application database (settings.app_database_url). If that database is down
the conversation goes on and the turns are retried, then dropped (logged, counted).

Outside development, a missing TRANSCRIPT_KEYS makes ``from_endpoint_config`` raise, so Rasa
refuses to start instead of writing transcripts under the public development key.
"""
from __future__ import annotations

import asyncio
import logging
from asyncio import AbstractEventLoop
from typing import Any, Dict, Optional, Text

from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig

from common.settings import Settings, load_settings
from storage.db import get_engine
from transcripts.capture import TurnRecorder, turn_from_event
from transcripts.crypto import KeyRing
from transcripts.store import TranscriptStore

log = logging.getLogger(__name__)


class TranscriptEventBroker(EventBroker):
    """Turns Rasa events into transcript turns; never blocks Rasa's loop, never raises into it."""

    def __init__(self, recorder: TurnRecorder) -> None:
        self.recorder = recorder

    @classmethod
    def from_settings(cls, settings: Settings) -> "TranscriptEventBroker":
        keyring = KeyRing.from_settings(settings)   # raises outside development without keys
        url = settings.app_database_url
        recorder = TurnRecorder(lambda: TranscriptStore(get_engine(url), keyring), name="transcripts-broker")
        log.info("transcript capture on", extra={"event": "transcripts.broker_started", "key_id": keyring.active_id})
        return cls(recorder.start())

    @classmethod
    async def from_endpoint_config(cls, broker_config: EndpointConfig,
                                   event_loop: Optional[AbstractEventLoop] = None) -> "TranscriptEventBroker":
        """Everything comes from the environment (common/settings.py); endpoints.yml only names the class."""
        return cls.from_settings(load_settings())

    def publish(self, event: Dict[Text, Any]) -> None:
        try:
            turn = turn_from_event(event)
            if turn is not None:
                self.recorder.submit(turn)
        except Exception:    # a malformed event must not break the conversation
            log.exception("event not captured", extra={"event": "transcripts.capture_failed"})

    def is_ready(self) -> bool:
        """Always ready: Rasa must keep serving while the database is away (turns are queued)."""
        return True

    async def close(self) -> None:
        """Flush what is queued (bounded: a dead database cannot hold the shutdown)."""
        await asyncio.get_running_loop().run_in_executor(None, self.recorder.close, 5.0)
