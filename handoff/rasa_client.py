"""Rasa's HTTP API as the hand-off needs it: read a tracker, pause, resume.

Resume posts BOTH events (``resume`` and ``action_listen``): ``resume`` alone makes the next user
message hit the default fallback and re-trigger the pause (see shared/reference/rasa-runtime.md).
Pausing from outside also ends any active form, like the escalation action does.
"""
from __future__ import annotations

from typing import Any, Optional
from urllib.parse import quote

import httpx

PAUSE_EVENTS = [{"event": "active_loop", "name": None}, {"event": "slot", "name": "requested_slot", "value": None},
                {"event": "pause"}]
RESUME_EVENTS = [{"event": "resume"}, {"event": "action", "name": "action_listen"}]


class RasaError(RuntimeError):
    """Rasa did not answer or refused the request."""


class RasaClient:
    def __init__(self, base_url: str, token: str = "", timeout: float = 5.0,
                 client: Optional[httpx.Client] = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.http = client or httpx.Client(timeout=timeout)

    def _params(self, **extra: str) -> dict[str, str]:
        params = dict(extra)
        if self.token:
            params["token"] = self.token
        return params

    def _url(self, conversation_id: str, suffix: str) -> str:
        return f"{self.base_url}/conversations/{quote(conversation_id, safe='')}/{suffix}"

    def tracker(self, conversation_id: str) -> dict[str, Any]:
        try:
            resp = self.http.get(self._url(conversation_id, "tracker"), params=self._params(include_events="ALL"))
        except httpx.HTTPError as exc:
            raise RasaError(type(exc).__name__) from exc
        if resp.status_code != 200:
            raise RasaError(f"tracker: HTTP {resp.status_code}")
        return resp.json()

    def append_events(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        try:
            resp = self.http.post(self._url(conversation_id, "tracker/events"), json=events,
                                  params=self._params(include_events="NONE"))
        except httpx.HTTPError as exc:
            raise RasaError(type(exc).__name__) from exc
        if resp.status_code != 200:
            raise RasaError(f"events: HTTP {resp.status_code}")

    def pause(self, conversation_id: str) -> None:
        self.append_events(conversation_id, PAUSE_EVENTS)

    def resume(self, conversation_id: str) -> None:
        self.append_events(conversation_id, RESUME_EVENTS)

    def close(self) -> None:
        self.http.close()


def events_after_last(events: list[dict[str, Any]], predicate) -> list[dict[str, Any]]:
    """The events after the last one matching ``predicate`` (all events when none matches)."""
    for index in range(len(events) - 1, -1, -1):
        if predicate(events[index]):
            return events[index + 1:]
    return list(events)


def is_escalation(event: dict[str, Any]) -> bool:
    return event.get("event") == "action" and event.get("name") == "action_escalate_to_agent"


def after_escalation(events: list[dict[str, Any]], since: float, skew_s: float = 30.0) -> list[dict[str, Any]]:
    """Events after the escalation that opened a hand-off created at ``since`` (epoch seconds).

    The first ``action_escalate_to_agent`` at or after ``since - skew_s``: later escalations (the user
    asking again while a callback ticket is open) must not hide the messages in between.
    """
    for index, event in enumerate(events):
        if is_escalation(event) and float(event.get("timestamp") or 0) >= since - skew_s:
            return events[index + 1:]
    return events_after_last(events, is_escalation)
