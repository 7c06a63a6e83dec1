"""WeCom customer service (微信客服) webhook, independent of Rasa.

WeCom's callback only says "there is something new" (``kf_msg_or_event`` with a short-lived
Token); the messages are pulled with ``kf/sync_msg`` from a cursor that is persisted after each
batch. One syncer per kf account at a time (a lock in the shared store, kept alive while it works),
and a per-message mark, so no message is lost or answered twice across restarts and replicas. A
sync that fails for a passing reason (WeCom or the store unreachable, another replica syncing) is
tried again a few seconds later without waiting for the next callback, and every replica syncs
once at start-up, so messages that arrived while nobody listened are answered.

Within one batch, customers are answered concurrently (each customer's messages in order), so one
slow turn does not hold up everyone else. With no cursor stored (a new deployment, a lost store)
``sync_msg`` returns the last three days: only messages of the last ``FIRST_SYNC_MAX_AGE_S`` are
answered then, older ones are history that people may have handled already.

The bot only speaks while the session is untreated (0) or bot-handled (1); in the queue (2) or with
a human agent (3) it stays silent.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple

from connectors.config import WeComKfConfig
from connectors.crypto import CryptoError, MessageCrypto
from connectors.geo import locate_province
from connectors.http_api import WeChatApiError
from connectors.kvstore import KeyValueStore, async_locked
from connectors.logsafe import pseudonym
from connectors.messages import (REPLY_EMPTY_TEXT, REPLY_ERROR, REPLY_IMAGE, REPLY_LINK,
                                 REPLY_LOCATION_UNKNOWN, REPLY_MEDIA,
                                 REPLY_UNSUPPORTED, REPLY_VOICE_UNRECOGNISED, Plan, location_intent,
                                 user_text)
from connectors.menus import METADATA_KEY, clean_menu_id
from connectors.ratelimit import RateLimiter, rate_limit_reply
from connectors.outbound import call_api, send_in_order_async, sender_with_menus
from connectors.replies import Reply, parts_with_menus, replies_from_bot, split_utf8
from connectors.security import Rejected, ascii_int, check_body_size, verify_msg_signature
from connectors.wechat_webhook import SUCCESS, HttpReply, RunTurn
from connectors.wecom_api import (BOT_MAY_SPEAK, SEND_LIMIT, STATE_BOT, STATE_NOT_ALLOWED,
                                  STATE_UNTREATED, KfApi, message_list)
from connectors.wxxml import parse_xml

log = logging.getLogger(__name__)

CURSOR_TTL_S = 400 * 24 * 3600
DONE_TTL_S = 4 * 24 * 3600          # sync_msg only returns the last 3 days
RUNNING_TTL_S = 600
FIRST_SYNC_MAX_AGE_S = 600
CONCURRENT_CUSTOMERS = 8
SYNC_LOCK_TTL_S = 30.0              # renewed while syncing: a killed syncer frees the account within this
ORIGIN_CUSTOMER, ORIGIN_EVENT, ORIGIN_SERVICER = 3, 4, 5


class SyncInterrupted(Exception):
    """The sync lock was lost mid-way (store failure or a long stall); the sync is tried again."""


def _send_time(msg: Dict[str, Any]) -> Optional[int]:
    value = msg.get("send_time")
    if isinstance(value, int):
        return value
    return ascii_int(str(value or ""), 12)


def _customer_of(msg: Dict[str, Any]) -> str:
    """Whose conversation a synced message belongs to (events carry it inside ``event``)."""
    event = msg.get("event") if isinstance(msg.get("event"), dict) else {}
    return str(msg.get("external_userid") or event.get("external_userid") or "")


def _is_passing(exc: BaseException) -> bool:
    """Worth another sync soon: not an API refusal (errcode >= 0: credentials, cursor, limits)."""
    return not (isinstance(exc, WeChatApiError) and exc.errcode >= 0)


def _coordinate(value: Any) -> Optional[float]:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def plan_for_kf(msg: Dict[str, Any]) -> Plan:
    """The kf counterpart of :func:`connectors.messages.plan_for` (JSON messages from sync_msg)."""
    kind = str(msg.get("msgtype", ""))
    body = msg.get(kind) if isinstance(msg.get(kind), dict) else {}
    if kind == "text":
        text = user_text(str(body.get("content", "")))
        if not text:
            return Plan("text_empty", reply=REPLY_EMPTY_TEXT)
        # a tapped menu option (msgmenu click) arrives as a text message with its id in "menu_id"
        return Plan("text", rasa_text=text, menu_id=clean_menu_id(body.get("menu_id")))
    if kind == "location":
        province = locate_province(_coordinate(body.get("latitude")), _coordinate(body.get("longitude")),
                                   f"{body.get('address', '')}{body.get('name', '')}")
        if province:
            return Plan("location", rasa_text=location_intent(province))
        return Plan("location_unknown", reply=REPLY_LOCATION_UNKNOWN)
    if kind == "image":
        return Plan("image", reply=REPLY_IMAGE)
    if kind == "voice":
        return Plan("voice", reply=REPLY_VOICE_UNRECOGNISED)
    if kind in ("link", "miniprogram"):
        return Plan(kind, reply=REPLY_LINK)
    if kind in ("video", "file"):
        return Plan(kind, reply=REPLY_MEDIA)
    return Plan("unsupported", reply=REPLY_UNSUPPORTED)


def kf_sender(api: KfApi, open_kfid: str, user: str) -> Callable[[Any], Any]:
    """``send(part)`` for one customer: text, or a menu message (numbered text if WeCom refuses it)."""
    def refused(exc: WeChatApiError) -> None:
        log.warning("kf menu message refused; sending its numbered text instead",
                    extra={"event": "wecom_kf.menu_refused", "errcode": exc.errcode})

    return sender_with_menus(functools.partial(api.send_text, open_kfid, user),
                             lambda menu: api.send_menu(open_kfid, user, menu),
                             frozenset({STATE_NOT_ALLOWED, SEND_LIMIT}), refused)


class WeComKfWebhook:
    """Callback verification, callback handling and the sync loop for one corp's kf accounts."""

    def __init__(self, config: WeComKfConfig, store: Optional[KeyValueStore], run_turn: RunTurn,
                 api: Optional[KfApi] = None, limiter: Optional[RateLimiter] = None) -> None:
        self.config = config
        self.limiter = limiter
        self.store = store
        self.run_turn = run_turn
        self.api = api
        self.problems = config.problems()
        self.crypto = (MessageCrypto(config.token, config.encoding_aes_key, config.corp_id)
                       if not self.problems else None)
        self._syncing: Dict[str, "asyncio.Task[None]"] = {}
        self._pending_token: Dict[str, Optional[str]] = {}
        self._background: Set["asyncio.Task[Any]"] = set()
        self.sync_lock_wait_s = 60.0
        self.sync_retry_s: Tuple[float, ...] = (5.0, 10.0, 20.0, 40.0, 60.0, 60.0, 60.0, 60.0, 60.0)

    # ---- callbacks ---------------------------------------------------------------------------
    async def verify(self, query: Mapping[str, str]) -> HttpReply:
        """GET: check msg_signature over the encrypted echostr and return its plaintext."""
        if self.crypto is None:
            return self._unavailable()
        echostr = (query.get("echostr") or "").replace(" ", "+")   # '+' decoded as space by some clients
        try:
            if not echostr or len(echostr) > 1024:
                raise Rejected(400, "missing echostr")
            verify_msg_signature(self.config.token, query.get("msg_signature"), query.get("timestamp"),
                                 query.get("nonce"), echostr)
            plain = self.crypto.decrypt(echostr)
        except CryptoError as exc:
            return self._reject(Rejected(403, f"echostr: {exc}"), "verify")
        except Rejected as exc:
            return self._reject(exc, "verify")
        log.info("wecom kf url verified", extra={"event": "wecom_kf.verified"})
        return HttpReply(200, plain)

    async def receive(self, query: Mapping[str, str], body: bytes,
                      content_length: Optional[str] = None) -> HttpReply:
        """POST: authenticate, then sync in the background and answer at once (5-second rule)."""
        if self.crypto is None:
            return self._unavailable()
        try:
            check_body_size(body, content_length)
            outer = parse_xml(body)
            ciphertext = outer.get("Encrypt", "")
            if not ciphertext:
                raise Rejected(400, "Encrypt element missing")
            verify_msg_signature(self.config.token, query.get("msg_signature"), query.get("timestamp"),
                                 query.get("nonce"), ciphertext)
            try:
                inner = parse_xml(self.crypto.decrypt(ciphertext).encode("utf-8"))
            except CryptoError as exc:
                raise Rejected(403, f"decryption failed: {exc}") from None
        except Rejected as exc:
            return self._reject(exc, "receive")
        event = inner.get("Event", "")
        if inner.get("MsgType") == "event" and event == "kf_msg_or_event":
            open_kfid = inner.get("OpenKfId", "")
            if not open_kfid:
                return self._reject(Rejected(400, "OpenKfId missing"), "receive")
            if self.config.open_kfid and open_kfid != self.config.open_kfid:
                log.info("callback for another kf account ignored", extra={"event": "wecom_kf.other_account"})
                return SUCCESS
            self.request_sync(open_kfid, inner.get("Token") or None)
        else:
            log.info("wecom callback ignored", extra={"event": "wecom_kf.ignored",
                                                      "msg_type": inner.get("MsgType", ""), "kind": event})
        return SUCCESS

    # ---- syncing -----------------------------------------------------------------------------
    def catch_up(self) -> None:
        """At start-up: pull what arrived while no replica listened (WeCom gives up on a callback after
        its retries). Needs ``WECOM_OPEN_KFID``: without it the accounts to pull are not known."""
        if self.crypto is not None and self.api is not None and self.config.open_kfid:
            self.request_sync(self.config.open_kfid, None)

    def request_sync(self, open_kfid: str, token: Optional[str]) -> None:
        """Coalesce callbacks: one running sync per account, re-run once if more arrived meanwhile."""
        self._pending_token[open_kfid] = token or self._pending_token.get(open_kfid)
        running = self._syncing.get(open_kfid)
        if running is None or running.done():
            task = asyncio.ensure_future(self._sync_loop(open_kfid))
            self._syncing[open_kfid] = task
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _sync_loop(self, open_kfid: str) -> None:
        failures = 0
        while open_kfid in self._pending_token:
            token = self._pending_token.pop(open_kfid)
            try:
                await self.sync(open_kfid, token)
                failures = 0
            except Exception as exc:
                if not _is_passing(exc) or failures >= len(self.sync_retry_s):
                    log.error("kf sync failed; the next callback syncs again",
                              extra={"event": "wecom_kf.sync_failed", "error": type(exc).__name__,
                                     "errcode": getattr(exc, "errcode", None), "attempts": failures + 1})
                    continue
                pause = self.sync_retry_s[failures]
                failures += 1
                log.warning("kf sync interrupted; trying again", extra={
                    "event": "wecom_kf.sync_retry", "error": type(exc).__name__,
                    "errcode": getattr(exc, "errcode", None), "in_s": pause, "attempt": failures})
                await asyncio.sleep(pause)
                self._pending_token.setdefault(open_kfid, None)

    async def sync(self, open_kfid: str, token: Optional[str] = None) -> int:
        """Pull and handle everything new for ``open_kfid``; returns the number of messages handled.

        Raises :class:`LockTimeout` while another replica syncs the account (its sync may have
        started before this callback's messages arrived, so the caller tries again).
        """
        if self.api is None or self.store is None:
            return 0
        handled = 0
        cursor_key = f"kf:cursor:{self.config.corp_id}:{open_kfid}"
        async with async_locked(self.store, f"kf:sync:{self.config.corp_id}:{open_kfid}", ttl_s=SYNC_LOCK_TTL_S,
                                wait_s=self.sync_lock_wait_s, keep_alive=True) as lock:
            cursor = await asyncio.to_thread(self.store.get, cursor_key) or ""
            history_before = None if cursor else time.time() - FIRST_SYNC_MAX_AGE_S
            while True:
                try:
                    data = await call_api(self.api.sync_msg, open_kfid, cursor, token or "")
                except WeChatApiError as exc:
                    if token and exc.errcode == 95007:      # callback token expired: pull without it
                        token = None
                        continue
                    raise
                batch = message_list(data)
                if history_before is not None:
                    batch = self._without_history(batch, history_before)
                handled += await self._handle_batch(batch)
                if lock.lost:
                    raise SyncInterrupted(open_kfid)
                next_cursor = str(data.get("next_cursor") or cursor)
                if next_cursor != cursor:
                    cursor = next_cursor
                    await asyncio.to_thread(self.store.set, cursor_key, cursor, CURSOR_TTL_S)
                if not data.get("has_more"):
                    break
        return handled

    @staticmethod
    def _without_history(batch: List[Dict[str, Any]], before: float) -> List[Dict[str, Any]]:
        """First sync: drop what was sent before ``before`` (unknown send times are kept)."""
        fresh = [msg for msg in batch if (_send_time(msg) or before) >= before]
        if len(fresh) < len(batch):
            log.warning("first sync of this kf account: older messages left unanswered",
                        extra={"event": "wecom_kf.history_skipped", "skipped": len(batch) - len(fresh),
                               "max_age_s": FIRST_SYNC_MAX_AGE_S})
        return fresh

    async def _handle_batch(self, batch: List[Dict[str, Any]]) -> int:
        """Customers concurrently (at most ``CONCURRENT_CUSTOMERS``), each customer's messages in order.

        A passing failure stops that customer's remaining messages and is raised after the others
        finished: the cursor then stays, and the next sync redoes only what is not marked done.
        """
        by_customer: Dict[str, List[Dict[str, Any]]] = {}
        for msg in batch:
            by_customer.setdefault(_customer_of(msg), []).append(msg)
        gate = asyncio.Semaphore(CONCURRENT_CUSTOMERS)

        async def in_order(messages: List[Dict[str, Any]]) -> int:
            async with gate:
                done = 0
                for msg in messages:
                    done += await self._handle_once(msg)
                return done

        results = await asyncio.gather(*(in_order(msgs) for msgs in by_customer.values()), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sum(r for r in results if isinstance(r, int))

    async def _handle_once(self, msg: Dict[str, Any]) -> int:
        msgid = str(msg.get("msgid", ""))
        if not msgid:
            return 0
        key = f"kf:msg:{self.config.corp_id}:{msgid}"
        assert self.store is not None
        state = await asyncio.to_thread(self.store.get, key)
        if state == "done":
            return 0
        # "running" seen while holding the sync lock means a previous holder died mid-message
        await asyncio.to_thread(self.store.set, key, "running", RUNNING_TTL_S)
        try:
            await self._handle(msg)
        except WeChatApiError as exc:
            if exc.errcode < 0:
                # WeCom unreachable: leave the message (and the cursor) for the next sync
                await asyncio.to_thread(self.store.delete_if, key, "running")
                raise
            log.error("kf message failed", extra={"event": "wecom_kf.message_failed", "errcode": exc.errcode})
        except Exception:
            log.exception("kf message failed", extra={"event": "wecom_kf.message_failed"})
        await asyncio.to_thread(self.store.set, key, "done", DONE_TTL_S)
        return 1

    async def _handle(self, msg: Dict[str, Any]) -> None:
        origin = msg.get("origin")
        origin = origin if isinstance(origin, int) else ascii_int(str(origin or ""), 3) or 0
        if origin == ORIGIN_CUSTOMER:
            await self._customer_message(msg)
        elif origin == ORIGIN_EVENT:
            await self._event(msg)
        else:
            log.info("kf message not for the bot", extra={"event": "wecom_kf.skipped", "origin": origin})

    async def _customer_message(self, msg: Dict[str, Any]) -> None:
        assert self.api is not None
        open_kfid, user = str(msg.get("open_kfid", "")), str(msg.get("external_userid", ""))
        state, _ = await call_api(self.api.service_state, open_kfid, user)
        if state not in BOT_MAY_SPEAK:
            log.info("session handled by people; bot stays silent",
                     extra={"event": "wecom_kf.silent", "state": state, "user": pseudonym(user)})
            return
        if state == STATE_UNTREATED:
            try:
                await call_api(self.api.transfer, open_kfid, user, STATE_BOT)
            except WeChatApiError as exc:
                log.warning("could not mark session as bot-handled",
                            extra={"event": "wecom_kf.trans_failed", "errcode": exc.errcode})
        msgid = str(msg.get("msgid", ""))
        limited = await self._rate_limited(user, msgid)
        if limited is not None:
            if limited:
                await self._send(open_kfid, user, [Reply(text) for text in limited])
            return
        plan = plan_for_kf(msg)
        replies = await self._answer(plan, user, msgid)
        await self._send(open_kfid, user, replies)

    async def _rate_limited(self, user: str, msgid: str) -> Optional[List[str]]:
        """None when the message may go to the bot; else the notice (once per window) or nothing."""
        return await rate_limit_reply(self.limiter, user, f"kf:{self.config.corp_id}:{msgid}", "wecom_kf")

    async def _event(self, msg: Dict[str, Any]) -> None:
        event = msg.get("event") if isinstance(msg.get("event"), dict) else {}
        kind = str(event.get("event_type", ""))
        if kind == "enter_session" and event.get("welcome_code"):
            user = str(event.get("external_userid", ""))
            replies = await self._answer(Plan("enter_session", rasa_text="/greet"), user, str(msg.get("msgid", "")))
            texts = [reply.text for reply in replies]
            if texts:
                assert self.api is not None
                failed = await send_in_order_async(
                    functools.partial(self.api.send_text_on_event, str(event["welcome_code"])),
                    split_utf8("\n\n".join(texts))[:1])
                if failed is not None:
                    log.warning("welcome message not sent", extra={"event": "wecom_kf.welcome_failed",
                                                                   "errcode": failed.error.errcode})
            return
        log.info("kf event", extra={"event": "wecom_kf.event", "kind": kind})

    async def _answer(self, plan: Plan, user: str, msgid: str) -> List[Reply]:
        if plan.rasa_text is None:
            return [Reply(plan.reply)] if plan.reply else []
        metadata: Dict[str, Any] = {"wecom_kf": {"kind": plan.kind}}
        if plan.menu_id:
            metadata[METADATA_KEY] = plan.menu_id
        try:
            messages = await asyncio.wait_for(
                self.run_turn(plan.rasa_text, user, f"kf:{msgid}", metadata), self.config.turn_timeout_s)
        except Exception as exc:
            log.error("bot turn failed", extra={"event": "wecom_kf.bot_error", "error": type(exc).__name__})
            return [Reply(REPLY_ERROR)]
        return replies_from_bot(messages)

    async def _send(self, open_kfid: str, user: str, replies: List[Reply]) -> None:
        """The replies in order; one carrying a menu goes out as a kf menu message (msgmenu)."""
        assert self.api is not None
        texts = [reply.text for reply in replies]
        failed = await send_in_order_async(kf_sender(self.api, open_kfid, user), parts_with_menus(replies))
        if failed is not None:
            errcode = failed.error.errcode
            level = logging.WARNING if errcode in (STATE_NOT_ALLOWED, SEND_LIMIT) else logging.ERROR
            log.log(level, "kf reply not sent", extra={"event": "wecom_kf.send_failed", "errcode": errcode,
                                                       "user": pseudonym(user), "part": failed.part,
                                                       "parts": failed.parts})
            return
        log.info("kf replies sent", extra={"event": "wecom_kf.replied", "user": pseudonym(user),
                                           "replies": len(texts), "menus": sum(1 for r in replies if r.menu)})

    async def drain(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self._background and time.monotonic() < deadline:
            await asyncio.wait(set(self._background), timeout=max(0.01, deadline - time.monotonic()))

    def _unavailable(self) -> HttpReply:
        log.error("wecom_kf channel not configured", extra={"event": "wecom_kf.unconfigured",
                                                           "problems": self.problems})
        return HttpReply(503, "wecom_kf channel not configured")

    @staticmethod
    def _reject(exc: Rejected, stage: str) -> HttpReply:
        log.warning("wecom request rejected", extra={"event": "wecom_kf.rejected", "stage": stage,
                                                     "status": exc.status, "reason": exc.reason})
        return HttpReply(exc.status, "forbidden" if exc.status == 403 else "bad request")
