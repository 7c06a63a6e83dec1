"""The hand-off flow: escalate, dispatch, claim, relay, reply, end (runs in the web service).

State lives in the database (:mod:`handoff.store`), so every step can be retried by another
replica or after a restart; side effects on the outside world (WeCom notifications, messages to
the user, Rasa pause/resume) follow a state change that exactly one caller won.

Rules, in one place:
- live hand-off when the service hours are open AND at least one agent is online or busy;
  otherwise a callback ticket (the bot is NOT paused; user messages in the next
  ``message_window_s`` are attached to the ticket).
- a live hand-off pauses the Rasa conversation (the escalation action returns the pause) and is
  auto-assigned to the least-busy online agent with the skill (:mod:`handoff.routing`), else it
  waits in the queue (FIFO) until an agent frees up, goes online or claims it.
- it ends when the agent ends it (console, ``#结束`` in WeCom, the kf session ended natively), or
  after ``idle_s`` without messages; a queued hand-off nobody took in ``idle_s`` becomes a callback
  ticket. Ending resumes Rasa (resume + action_listen), tells the user and asks for a 1-5 rating.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Optional, Protocol

from sqlalchemy.engine import Row

from connectors.logsafe import pseudonym
from handoff import texts
from handoff.card import REASON_LABELS, REASONS, SKILLS, render_card_text, summary
from handoff.delivery import AgentNotifier, UserDelivery
from handoff.hours import ServiceHours
from handoff.rasa_client import RasaClient, RasaError, after_escalation, events_after_last, is_escalation
from handoff.rating import parse_rating
from handoff.routing import rank_candidates
from handoff.store import ACTIVE, CALLBACK, ENDED, PAUSED_STATUSES, QUEUED, HandoffStore, card_of

log = logging.getLogger(__name__)

PAUSE_GRACE_S = 5.0


@dataclass(frozen=True)
class AgentInfo:
    user_id: int
    name: str
    wecom_userid: Optional[str] = None
    role: str = "agent"


class Directory(Protocol):
    def by_id(self, user_id: int) -> Optional[AgentInfo]: ...
    def by_wecom(self, wecom_userid: str) -> Optional[AgentInfo]: ...


@dataclass(frozen=True)
class HandoffConfig:
    idle_s: float = 1800.0
    message_window_s: float = 600.0
    rating_window_s: float = 600.0
    public_url: str = "http://127.0.0.1:8000"


@dataclass
class EscalationResult:
    handoff_id: int
    status: str
    pause: bool
    message: str
    delivered: bool = False          # the service already sent `message` to the user (wecom_kf)
    agent: Optional[str] = None
    position: Optional[int] = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class HandoffError(Exception):
    """A request the current state does not allow; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class HandoffService:
    store: HandoffStore
    hours: ServiceHours
    rasa: RasaClient
    delivery: UserDelivery
    notifier: AgentNotifier
    directory: Directory
    config: HandoffConfig = field(default_factory=HandoffConfig)
    clock: Callable[[], float] = time.time
    background_workers: int = 4
    # encrypted transcripts (transcripts/, docs/privacy.md): (conversation_id, role, text, channel, key) -> None
    turn_sink: Optional[Callable[..., Any]] = None

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(self.background_workers, thread_name_prefix="handoff")
        self._pending: set[Future] = set()

    # ---- helpers -----------------------------------------------------------------------------
    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), timezone.utc)

    def background(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Side effects after a state change (notifications, messages); errors are logged."""
        def run() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("hand-off background task failed", extra={"event": "handoff.background_failed"})

        future = self._pool.submit(run)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    def drain(self, timeout: float = 10.0) -> None:
        """Wait for background side effects (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            for future in list(self._pending):
                try:
                    future.result(max(0.01, deadline - time.monotonic()))
                except Exception:
                    pass

    def close(self) -> None:
        self.drain(5.0)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def agent_name(self, agent_id: Optional[int]) -> str:
        info = self.directory.by_id(agent_id) if agent_id is not None else None
        return info.name if info else "客服"

    def _tell_user(self, row: Row, text: str, *, author: str = "系统") -> str:
        """Send a system message to the user by their channel and keep it in the hand-off's messages."""
        status = self.delivery.send(row.channel, row.conversation_id, text, row.open_kfid)
        message_id = self.store.add_message(row.id, "system", text, author=author, delivery=status)
        self._record_turn(row, "system", text, message_id)
        return status

    def _record_turn(self, row: Row, role: str, text: str, message_id: Optional[int]) -> None:
        """Messages that reach the user without passing through Rasa go to the transcript here (the
        Rasa event broker records user and bot turns). Never lets a transcript problem break the chat."""
        if self.turn_sink is None:
            return
        try:
            self.turn_sink(row.conversation_id, role, text, row.channel,
                           f"handoff:{row.id}:{message_id}" if message_id is not None else None)
        except Exception:
            log.warning("turn not recorded", extra={"event": "handoff.transcript_failed", "handoff": row.id})

    # ---- escalation --------------------------------------------------------------------------
    def escalate(self, *, conversation_id: str, channel: str, reason: str, card: dict[str, Any],
                 open_kfid: Optional[str] = None) -> EscalationResult:
        if reason not in REASONS:
            reason = "request_human"
        skill = card.get("skill") if card.get("skill") in SKILLS else "sales"
        now, now_dt = self.clock(), self.now_dt()
        hours_open = self.hours.is_open(now_dt)
        live = hours_open and self.store.agents_on_duty() > 0
        if channel == "wecom_kf" and not open_kfid:
            open_kfid = getattr(self.delivery, "default_open_kfid", lambda: "")() or None
        window_min = max(1, round(self.config.message_window_s / 60))

        row = self.store.open_for(conversation_id)
        if row is None:
            status = QUEUED if live else CALLBACK
            row, created = self.store.create(
                conversation_id=conversation_id, channel=channel, reason=reason, skill=skill, card=card,
                status=status, open_kfid=open_kfid,
                watch_until=now + self.config.message_window_s if status == CALLBACK else None)
            log.info("hand-off requested", extra={"event": "handoff.requested", "handoff": row.id, "reason": reason,
                                                  "skill": skill, "status": row.status, "new": created,
                                                  "user": pseudonym(conversation_id), "channel": channel})
            if created and row.status == CALLBACK:
                message = (texts.callback_off_hours(self.hours.label(), self.hours.describe_next_open(now_dt),
                                                    row.id, window_min)
                           if not hours_open else texts.callback_no_agent(row.id, window_min))
                return EscalationResult(row.id, CALLBACK, False, message)
        if row.status == CALLBACK:
            if not live or not self.store.requeue_callback(row.id, card):
                self.store.touch(row.id, extend_watch_s=self.config.message_window_s)
                return EscalationResult(row.id, CALLBACK, False, texts.callback_again(row.id))
            row = self.store.get(row.id)
        if row.status == ACTIVE:
            return EscalationResult(row.id, ACTIVE, True, texts.connected(self.agent_name(row.agent_id)),
                                    agent=self.agent_name(row.agent_id))

        assigned = self.dispatch(run_followups=False)
        for other in assigned:
            if other != row.id:
                self.background(self.after_assignment, other, True)
        row = self.store.get(row.id)
        if row.status == ACTIVE:
            name = self.agent_name(row.agent_id)
            result = EscalationResult(row.id, ACTIVE, True, texts.connected(name), agent=name)
            if row.channel == "wecom_kf":
                # the kf session moves to the agent now; the bot may not speak after that, so the
                # service sends the "connected" message itself before the transfer
                self._tell_user(row, result.message)
                self._kf_to_agent(row)
                result.delivered = True
            else:
                self.store.add_message(row.id, "system", result.message, author="系统", delivery="bot")
            self.background(self.notify_agent, row.id)
            return result
        position = self.store.queue_position(row)
        return EscalationResult(row.id, QUEUED, True, texts.queued(position), position=position)

    # ---- routing -----------------------------------------------------------------------------
    def dispatch(self, run_followups: bool = True) -> list[int]:
        """Assign queued hand-offs (oldest first) to free agents; returns the ids assigned now."""
        assigned: list[int] = []
        for row in self.store.list([QUEUED]):
            for agent in rank_candidates(self.store.agent_loads(), row.skill):
                if self.store.assign(row.id, agent.user_id):
                    assigned.append(row.id)
                    log.info("hand-off assigned", extra={"event": "handoff.assigned", "handoff": row.id,
                                                         "agent": agent.user_id, "skill": row.skill})
                    break
        if run_followups:
            for handoff_id in assigned:
                self.background(self.after_assignment, handoff_id, True)
        return assigned

    def after_assignment(self, handoff_id: int, tell_user: bool) -> None:
        row = self.store.get(handoff_id)
        if row is None or row.status != ACTIVE:
            return
        if tell_user:
            name = self.agent_name(row.agent_id)
            self._tell_user(row, texts.claimed_callback(name) if row.kind == "callback" else texts.connected(name))
            if row.channel == "wecom_kf":
                self._kf_to_agent(row)
        self.notify_agent(handoff_id)

    def _kf_to_agent(self, row: Row) -> None:
        info = self.directory.by_id(row.agent_id) if row.agent_id is not None else None
        if info and info.wecom_userid and row.open_kfid:
            self.delivery.kf_to_agent(row.open_kfid, row.conversation_id, info.wecom_userid)

    def notify_agent(self, handoff_id: int) -> None:
        """The context card to the assigned agent in WeCom (text card + the full card as text)."""
        row = self.store.get(handoff_id)
        if row is None or row.agent_id is None:
            return
        info = self.directory.by_id(row.agent_id)
        if not (self.notifier.configured and info and info.wecom_userid):
            self.store.mark_notified(handoff_id, "no WeCom app or no wecom_userid: console only")
            return
        card = card_of(row)
        title = f"新的转人工 #{row.id}｜{REASON_LABELS.get(row.reason, row.reason)}"
        url = f"{self.config.public_url.rstrip('/')}/agent/?h={row.id}"
        try:
            self.notifier.card(info.wecom_userid, title, summary(card), url)
            self.store.mark_notified(handoff_id)
            tail = ("\n——\n直接回复本应用即可回复用户（多个会话时以“#编号 内容”开头）；发送“#结束”结束会话。"
                    if row.channel != "wecom_kf" else "\n——\n该用户已转入您的微信客服会话，请在企业微信中直接回复。")
            self.notifier.text(info.wecom_userid, render_card_text(card, row.id) + tail)
        except Exception as exc:
            self.store.mark_notified(handoff_id, f"{type(exc).__name__}: {exc}")
            log.warning("agent not notified", extra={"event": "handoff.notify_failed", "handoff": handoff_id,
                                                     "error": type(exc).__name__})
            return
        log.info("agent notified", extra={"event": "handoff.notified", "handoff": handoff_id, "agent": row.agent_id})

    def claim(self, handoff_id: int, agent_id: int) -> Row:
        """An agent takes a queued hand-off or a callback ticket (409 when someone else was faster)."""
        row = self.store.get(handoff_id)
        if row is None:
            raise HandoffError(404, "会话不存在")
        if row.status == ACTIVE and row.agent_id == agent_id:
            return row
        self.store.ensure_agent(agent_id)
        if row.status not in (QUEUED, CALLBACK) or not self.store.assign(handoff_id, agent_id,
                                                                          respect_capacity=False):
            raise HandoffError(409, "该会话已被其他客服接入或已结束")
        if row.status == CALLBACK:
            try:
                self.rasa.pause(row.conversation_id)
            except RasaError as exc:
                log.error("could not pause the conversation; the relay retries",
                          extra={"event": "handoff.pause_failed", "handoff": handoff_id, "error": str(exc)})
        log.info("hand-off claimed", extra={"event": "handoff.claimed", "handoff": handoff_id, "agent": agent_id})
        self.background(self.after_assignment, handoff_id, True)
        return self.store.get(handoff_id)

    # ---- conversation ------------------------------------------------------------------------
    def agent_reply(self, handoff_id: int, agent_id: int, text: str) -> tuple[int, str]:
        text = (text or "").strip()
        if not text:
            raise HandoffError(422, "消息不能为空")
        row = self.store.get(handoff_id)
        if row is None:
            raise HandoffError(404, "会话不存在")
        if row.status != ACTIVE or row.agent_id != agent_id:
            raise HandoffError(409, "只能回复自己正在接待的会话")
        if row.channel == "wecom_kf":
            raise HandoffError(409, texts.KF_REPLY_NATIVE)
        message_id = self.store.add_message(handoff_id, "agent", text, author=self.agent_name(agent_id),
                                            delivery="sending")
        self._record_turn(row, "agent", text, message_id)
        status = self.delivery.send(row.channel, row.conversation_id, text, row.open_kfid)
        self.store.set_delivery(message_id, status)
        self.store.touch(handoff_id)
        return message_id, status

    def end(self, handoff_id: int, *, reason: str, by: Optional[int] = None) -> Optional[Row]:
        """End once (later calls return None): resume the bot, tell the user, ask for a rating."""
        before = self.store.end(handoff_id, reason=reason, ended_by=by,
                                rating_window_s=self.config.rating_window_s)
        if before is None:
            return None
        log.info("hand-off ended", extra={"event": "handoff.ended", "handoff": handoff_id, "reason": reason,
                                          "agent": before.agent_id})
        if before.status in PAUSED_STATUSES:
            self._resume(before)
        if before.channel == "wecom_kf" and before.status == ACTIVE and reason != "kf_native" and before.open_kfid:
            self.delivery.kf_to_bot(before.open_kfid, before.conversation_id)
        if before.agent_id is not None and reason != "kf_native":
            idle_min = max(1, round(self.config.idle_s / 60))
            self._tell_user(before, texts.ended_idle_with_rating(idle_min) if reason == "idle"
                            else texts.ended_with_rating())
        self.store.finalize_transcript(handoff_id)
        if before.agent_id is not None and reason in ("idle", "kf_native"):
            self.background(self._notify_text, before.agent_id, f"会话 #{handoff_id} 已结束（{_END_LABELS[reason]}）。")
        self.dispatch()
        return self.store.get(handoff_id)

    def _resume(self, row: Row) -> None:
        for attempt in range(3):
            try:
                self.rasa.resume(row.conversation_id)
                return
            except RasaError as exc:
                log.warning("resume failed", extra={"event": "handoff.resume_failed", "handoff": row.id,
                                                    "attempt": attempt + 1, "error": str(exc)})
                time.sleep(0.2 * (attempt + 1))
        # the relay repairs it: an ended hand-off whose conversation is still paused is resumed

    def _notify_text(self, agent_id: int, text: str) -> None:
        info = self.directory.by_id(agent_id)
        if self.notifier.configured and info and info.wecom_userid:
            self.notifier.text(info.wecom_userid, text)

    def queue_to_callback(self, row: Row) -> bool:
        """Nobody took a queued hand-off in time: callback ticket, bot back."""
        if not self.store.to_callback(row.id):
            return False
        self._resume(row)
        self._tell_user(row, texts.queue_timeout(row.id))
        log.info("queued hand-off became a callback ticket", extra={"event": "handoff.queue_timeout",
                                                                    "handoff": row.id})
        return True

    # ---- relay (Rasa tracker -> agent) -------------------------------------------------------
    def relay_once(self, parallel: int = 8) -> int:
        """Read the trackers of watched conversations; relay new user messages; store ratings."""
        rows = self.store.watched(self.clock())
        if not rows:
            return 0
        if len(rows) == 1 or parallel <= 1:
            return sum(self._relay_one(r) for r in rows)
        with ThreadPoolExecutor(min(parallel, len(rows)), thread_name_prefix="handoff-relay") as pool:
            return sum(pool.map(self._relay_one, rows))

    def _relay_one(self, row: Row) -> int:
        try:
            tracker = self.rasa.tracker(row.conversation_id)
        except RasaError as exc:
            log.warning("tracker not readable", extra={"event": "handoff.tracker_failed", "handoff": row.id,
                                                       "error": str(exc)})
            return 0
        events = tracker.get("events") or []
        try:
            if row.status in PAUSED_STATUSES:
                self._keep_paused(row, tracker, events)
                after = events_after_last(events, lambda e: e.get("event") == "pause" or is_escalation(e))
                return self._relay_user_events(row, after)
            if row.status == CALLBACK:
                return self._relay_user_events(row, after_escalation(events, row.created_at))
            if row.status == ENDED:
                self._after_end(row, tracker, events)
        except Exception:
            log.exception("relay failed", extra={"event": "handoff.relay_failed", "handoff": row.id})
        return 0

    def _keep_paused(self, row: Row, tracker: dict[str, Any], events: list[dict[str, Any]]) -> None:
        """Rasa un-pauses by itself on a restart or a new session; a claimed callback may have failed to
        pause. Re-pause while the hand-off is open, so the bot and the agent never answer together."""
        if tracker.get("paused") or not _needs_pause(events):
            return
        if self.clock() - (row.assigned_at or row.queued_at) < PAUSE_GRACE_S:
            return
        current = self.store.get(row.id)
        if current is not None and current.status in PAUSED_STATUSES:
            self.rasa.pause(row.conversation_id)
            log.warning("conversation re-paused", extra={"event": "handoff.repaused", "handoff": row.id})

    def _relay_user_events(self, row: Row, events: list[dict[str, Any]]) -> int:
        relayed = 0
        info = None
        for event in events:
            text = (event.get("text") or "").strip()
            if event.get("event") != "user" or not text or text.startswith("/"):
                continue
            key = str(event.get("message_id") or f"ts:{event.get('timestamp')}")
            if self.store.add_message(row.id, "user", text, author="用户", event_key=key, delivery="agent") is None:
                continue
            relayed += 1
            self.store.touch(row.id, extend_watch_s=self.config.message_window_s if row.status == CALLBACK else None)
            if row.agent_id is not None and self.notifier.configured:
                info = info or self.directory.by_id(row.agent_id)
                if info and info.wecom_userid:
                    self.background(self.notifier.text, info.wecom_userid, f"【#{row.id} 用户】{text}")
        if relayed:
            log.info("user messages relayed", extra={"event": "handoff.relayed", "handoff": row.id, "count": relayed})
        return relayed

    def _after_end(self, row: Row, tracker: dict[str, Any], events: list[dict[str, Any]]) -> None:
        if (tracker.get("paused") and _last_pause_state(events) == "pause"
                and self.store.open_for(row.conversation_id) is None):
            log.warning("ended hand-off still paused: resuming", extra={"event": "handoff.resume_repair",
                                                                        "handoff": row.id})
            self._resume(row)
            return
        after = events_after_last(events, lambda e: e.get("event") == "resume")
        if len(after) == len(events):
            return          # our resume is not visible yet
        for event in after:
            if event.get("event") != "user":
                continue
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            rating = parse_rating(event.get("text") or "", intent)
            if self.store.set_rating(row.id, rating) and rating is not None:
                log.info("hand-off rated", extra={"event": "handoff.rated", "handoff": row.id, "rating": rating})
            return

    # ---- sweep -------------------------------------------------------------------------------
    def sweep_once(self) -> dict[str, int]:
        """Idle timeouts, natively ended kf sessions, and a dispatch round."""
        now = self.clock()
        counts = {"idle": 0, "callback": 0, "kf_native": 0, "assigned": 0}
        for row in self.store.list([ACTIVE]):
            if row.channel == "wecom_kf" and row.open_kfid:
                # the conversation runs natively in WeCom (its messages never reach Rasa): WeCom's own
                # session timeout applies, and the end is read from the session state
                state = self.delivery.kf_state(row.open_kfid, row.conversation_id)
                if state is not None and state not in (2, 3) and self.end(row.id, reason="kf_native"):
                    counts["kf_native"] += 1
                continue
            if row.last_message_at < now - self.config.idle_s:
                if self.end(row.id, reason="idle"):
                    counts["idle"] += 1
        for row in self.store.list([QUEUED]):
            if row.last_message_at < now - self.config.idle_s and self.queue_to_callback(row):
                counts["callback"] += 1
        counts["assigned"] = len(self.dispatch())
        return counts


_END_LABELS = {"idle": "长时间无消息，自动结束", "kf_native": "已在企业微信中结束", "agent": "客服结束",
               "wecom_command": "客服在企业微信中结束"}


def _last_pause_state(events: list[dict[str, Any]]) -> Optional[str]:
    for event in reversed(events):
        if event.get("event") in ("pause", "resume"):
            return event["event"]
    return None


def _needs_pause(events: list[dict[str, Any]]) -> bool:
    """Scanning back: a restart / new session (Rasa un-paused by itself) or the escalation itself
    (never paused since) comes before any pause/resume of ours."""
    for event in reversed(events):
        kind = event.get("event")
        if kind in ("pause", "resume"):
            return False
        if kind in ("restart", "session_started") or is_escalation(event):
            return True
    return False
