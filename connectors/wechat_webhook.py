"""The Official Account webhook, independent of Rasa and of the web framework.

``WeChatWebhook.receive`` authenticates a push, decrypts it, and answers within WeChat's 5-second
rule: a passive reply when the bot is done within ``passive_deadline_s``, otherwise ``success`` and
the answer goes out later through the customer-service API. Every message runs at most one bot
turn, across WeChat's retries and across replicas (see :mod:`connectors.ledger`).

A turn whose owner dies (the process is killed between receiving and answering) is taken over by
WeChat's next retry once the owner's lease in the ledger has expired; see :mod:`connectors.ledger`.
When the owner had already acknowledged with ``success`` there is no retry: ``recover_orphans``
(run every few seconds by every replica) finishes such turns and sends the answer through the API.

Menu messages (``custom.msgmenu``, WECHAT_MSGMENU=true): a menu cannot be a passive reply, so a turn
whose answer carries one is acknowledged with ``success`` and all its messages go out through the
customer-service API in order (same ledger and retry rules); a menu WeChat refuses (40200: not a verified
service account) is replaced by its numbered text. With the setting off, the numbered text goes out as
before. A tapped option (``<bizmsgmenuid>``) reaches Rasa as metadata ``{"menu_id": ...}``.

The Rasa channel (:mod:`connectors.wechat_channel`) is a thin adapter around this class; tests
drive it directly with any ``run_turn`` coroutine.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Set

from connectors.config import WeChatConfig
from connectors.crypto import CryptoError, MessageCrypto
from connectors.http_api import WeChatApiError
from connectors.ledger import LEASE_S, TurnLedger
from connectors.logsafe import pseudonym
from connectors.messages import (REPLY_ERROR, Inbound, InvalidMessage, Plan,
                                 parse_inbound, plan_for)
from connectors.menus import METADATA_KEY
from connectors.outbound import call_api, send_in_order_async, sender_with_menus
from connectors.ratelimit import RateLimiter, rate_limit_reply
from connectors.replies import (Part, Reply, delivery_plan, menus_for_ledger, replies_from_bot,
                                replies_from_ledger, reply_plan)
from connectors.security import Rejected, check_body_size, verify_msg_signature, verify_signature
from connectors.wechat_api import MENU_NOT_ALLOWED, NOT_RETRIED, OfficialAccountApi
from connectors.wxxml import parse_xml, render_text_reply
from transcripts.crypto import DecryptionError, KeyRing

log = logging.getLogger(__name__)

MENUS_REFUSED_PAUSE_S = 3600.0     # after a 40200 (unverified account) menus go out as text for this long

# (text, sender_id, message_id, metadata) -> the bot's messages (Rasa's dict format)
RunTurn = Callable[[str, str, str, Dict[str, Any]], Awaitable[List[Dict[str, Any]]]]

XML = "application/xml; charset=utf-8"
PLAIN = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: str
    content_type: str = PLAIN


SUCCESS = HttpReply(200, "success")


@dataclass
class _Inflight:
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    task: Optional["asyncio.Task[None]"] = None


class WeChatWebhook:
    """Authentication, exactly-once turns and reply delivery for one Official Account."""

    def __init__(self, config: WeChatConfig, ledger: Optional[TurnLedger], run_turn: RunTurn,
                 api: Optional[OfficialAccountApi] = None, limiter: Optional[RateLimiter] = None,
                 keyring: Optional[KeyRing] = None) -> None:
        self.config = config
        self.keyring = keyring      # seals messages in the ledger for orphan recovery (None: no recovery)
        self.limiter = limiter
        self.ledger = ledger
        self.run_turn = run_turn
        self.api = api
        self.problems = config.problems() + ([] if ledger is not None else ["no dedupe store"])
        self.crypto = (MessageCrypto(config.token, config.encoding_aes_key, config.app_id)
                       if config.encrypted and not self.problems else None)
        self._inflight: Dict[str, _Inflight] = {}
        self._background: Set["asyncio.Task[Any]"] = set()
        # who owns a turn in the shared ledger: unique per process start, so a restarted process
        # never mistakes the turns of its killed predecessor for its own
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.lease_s = LEASE_S
        self._menus_refused_until = 0.0

    # ---- GET: URL verification -------------------------------------------------------------
    async def verify(self, query: Mapping[str, str]) -> HttpReply:
        if self.problems:
            return self._unavailable()
        try:
            verify_signature(self.config.token, query.get("signature"), query.get("timestamp"),
                             query.get("nonce"))
        except Rejected as exc:
            return self._reject(exc, "verify")
        echostr = query.get("echostr", "")
        if not echostr or len(echostr) > 512:
            return self._reject(Rejected(400, "missing echostr"), "verify")
        log.info("wechat url verified", extra={"event": "wechat.verified"})
        return HttpReply(200, echostr)

    # ---- POST: messages --------------------------------------------------------------------
    async def receive(self, query: Mapping[str, str], body: bytes,
                      content_length: Optional[str] = None) -> HttpReply:
        started = time.monotonic()
        if self.problems:
            return self._unavailable()
        try:
            msg, encrypted = self._authenticate(query, body, content_length)
        except Rejected as exc:
            return self._reject(exc, "receive")

        plan = plan_for(msg)
        key = msg.dedupe_key
        deadline = started + self.config.passive_deadline_s
        waiting_until = time.time() + (deadline - time.monotonic())
        try:
            if not encrypted and not await asyncio.to_thread(self.ledger.bind_signature,
                                                             query.get("signature", ""), key):
                return self._reject(Rejected(403, "signature already used by another message"), "receive")
            owner, record = await asyncio.to_thread(self.ledger.claim, key, waiting_until, self.instance,
                                                    self.lease_s, self._seal(key, msg, plan))
        except Exception as exc:   # store down: answer anyway rather than lose the message
            log.error("dedupe store unavailable; answering without exactly-once",
                      extra={"event": "wechat.store_down", "error": type(exc).__name__})
            return await self._degraded(msg, plan, encrypted, query, deadline)
        if owner:
            inflight = _Inflight()
            self._inflight[key] = inflight
            inflight.task = self._spawn(self._run(key, msg, plan, inflight))
        else:
            log.info("duplicate delivery (retry or replay)",
                     extra={"event": "wechat.duplicate", "kind": plan.kind,
                            "state": record.state if record else "expired"})
        try:
            if not owner and record is not None and record.state == "running":
                await asyncio.to_thread(self.ledger.extend_wait, key, waiting_until)
            text = await self._await_answer(key, deadline, msg, plan)
        except Exception as exc:   # store failed mid-way: the turn (if ours) still delivers via the API
            log.error("dedupe store failed while waiting", extra={"event": "wechat.store_down",
                                                                 "error": type(exc).__name__})
            text = None
        elapsed_ms = round((time.monotonic() - started) * 1000)
        if text is None:
            if owner and self.api is not None and plan.deliver and self._still_running(key):
                self._spawn(self._typing(msg.openid))
            log.info("acknowledged with success", extra={"event": "wechat.ack", "kind": plan.kind,
                                                         "owner": owner, "ms": elapsed_ms})
            return SUCCESS
        log.info("passive reply", extra={"event": "wechat.passive", "kind": plan.kind,
                                         "owner": owner, "ms": elapsed_ms})
        return self._render(msg, text, encrypted, query)

    def _authenticate(self, query: Mapping[str, str], body: bytes,
                      content_length: Optional[str]) -> "tuple[Inbound, bool]":
        check_body_size(body, content_length)
        encrypted = query.get("encrypt_type", "").lower() == "aes"
        if self.crypto is not None and not encrypted:
            raise Rejected(403, "unencrypted message while an EncodingAESKey is configured")
        if encrypted and self.crypto is None:
            raise Rejected(403, "encrypted message but no EncodingAESKey configured")
        token = self.config.token
        verify_signature(token, query.get("signature"), query.get("timestamp"), query.get("nonce"))
        outer = parse_xml(body)
        if encrypted:
            assert self.crypto is not None
            ciphertext = outer.get("Encrypt", "")
            if not ciphertext:
                raise Rejected(400, "Encrypt element missing")
            verify_msg_signature(token, query.get("msg_signature"), query.get("timestamp"),
                                 query.get("nonce"), ciphertext)
            try:
                inner = self.crypto.decrypt(ciphertext)
            except CryptoError as exc:
                raise Rejected(403, f"decryption failed: {exc}") from None
            fields = parse_xml(inner.encode("utf-8"))
        else:
            fields = outer
        try:
            msg = parse_inbound(fields)
        except InvalidMessage as exc:
            raise Rejected(400, str(exc)) from None
        openid = query.get("openid")
        if openid and openid != msg.openid:
            raise Rejected(403, "openid in the URL does not match FromUserName")
        if self.config.app_id and encrypted and outer.get("ToUserName") and outer["ToUserName"] != msg.account:
            raise Rejected(403, "ToUserName mismatch between envelope and message")
        return msg, encrypted

    async def _degraded(self, msg: Inbound, plan: Plan, encrypted: bool, query: Mapping[str, str],
                        deadline: float) -> HttpReply:
        """No ledger: one best-effort turn, passive if in time, else through the API later."""
        task = asyncio.ensure_future(self._answer(msg.dedupe_key, msg, plan))
        done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
        if done:
            passive, custom = reply_plan(task.result(), self._menus_on())
            if custom:
                self._spawn(self._send_chunks(msg.openid, custom))
            return self._render(msg, passive, encrypted, query) if passive else SUCCESS

        async def later() -> None:
            passive, custom = reply_plan(await task, self._menus_on())
            await self._send_chunks(msg.openid, custom or ([passive] if passive else []))

        self._spawn(later())
        return SUCCESS

    async def _send_chunks(self, openid: str, chunks: List[Part]) -> None:
        if self.api is None:
            return
        failed = await send_in_order_async(self._sender(openid), chunks)
        if failed is not None:
            log.warning("customer-service message not sent", extra={"event": "wechat.custom_failed",
                                                                   "errcode": failed.error.errcode})

    # ---- waiting for the answer ------------------------------------------------------------
    def _still_running(self, key: str) -> bool:
        inflight = self._inflight.get(key)
        return inflight is not None and not inflight.answered.is_set()

    async def _await_answer(self, key: str, deadline: float, msg: Inbound, plan: Plan) -> Optional[str]:
        """The passive reply text if this attempt gets to deliver it before ``deadline``.

        While the turn runs elsewhere, a lease that stops being renewed means its owner died: this
        attempt takes the turn over and runs it here (``_take_over``).
        """
        assert self.ledger is not None
        while True:
            remaining = deadline - time.monotonic()
            inflight = self._inflight.get(key)
            if inflight is not None and not inflight.answered.is_set() and remaining > 0:
                try:
                    await asyncio.wait_for(inflight.answered.wait(), timeout=remaining)
                except asyncio.TimeoutError:
                    pass
            record = await asyncio.to_thread(self.ledger.get, key)
            if record is None:
                return None
            if record.state == "done":
                if record.delivery == "" and time.monotonic() > deadline:
                    # the turn ended in time but this attempt woke late (a busy event loop): a passive
                    # reply now would reach WeChat after it gave up; the owner sends it through the API
                    return None
                if record.delivery == "":
                    won = await asyncio.to_thread(self.ledger.claim_delivery, key, "passive")
                    record = won or await asyncio.to_thread(self.ledger.get, key)
                    if record is None:
                        return None
                if record.delivery == "passive":
                    # also for a retry whose earlier passive reply never reached WeChat
                    passive, _ = delivery_plan(record.texts)
                    return passive
                return None
            if inflight is None and 0 < record.lease_until < time.time():
                if await self._take_over(key, msg, plan):
                    continue          # now running here: wait for it like an owner
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if inflight is None:     # the turn runs on another replica: poll the shared ledger
                await asyncio.sleep(min(0.1, remaining))

    async def _take_over(self, key: str, msg: Inbound, plan: Plan) -> bool:
        """Run the turn of a dead owner here; False when another attempt got it first."""
        assert self.ledger is not None
        if key in self._inflight:
            return True
        record = await asyncio.to_thread(self.ledger.take_over, key, self.instance, self.lease_s)
        if record is None or key in self._inflight:
            return key in self._inflight
        log.warning("turn taken over from an owner that stopped renewing its lease",
                    extra={"event": "wechat.takeover", "kind": plan.kind, "user": pseudonym(msg.openid)})
        inflight = _Inflight()
        self._inflight[key] = inflight
        inflight.task = self._spawn(self._run(key, msg, plan, inflight))
        return True

    # ---- orphans: turns acknowledged with success whose owner died -----------------------------
    def _seal(self, key: str, msg: Inbound, plan: Plan) -> str:
        """The message's fields encrypted for the ledger, so another process can finish the turn."""
        if self.keyring is None or not plan.deliver:
            return ""
        return self.keyring.encrypt(json.dumps(msg.fields, ensure_ascii=False), key.encode("utf-8"))

    def _unseal(self, key: str, sealed: str) -> Optional[Inbound]:
        if self.keyring is None or not sealed:
            return None
        try:
            return parse_inbound(json.loads(self.keyring.decrypt(sealed, key.encode("utf-8"))))
        except (DecryptionError, InvalidMessage, ValueError) as exc:
            log.error("open turn cannot be recovered", extra={"event": "wechat.orphan_unreadable",
                                                              "error": type(exc).__name__})
            return None

    async def _close_turn(self, key: str) -> None:
        if self.keyring is None:
            return
        try:
            await asyncio.to_thread(self.ledger.close_turn, key)
        except Exception as exc:   # the sweep closes it later
            log.warning("open turn not closed", extra={"event": "wechat.close_failed", "error": type(exc).__name__})

    async def recover_orphans(self) -> int:
        """One sweep over the open turns: finish those whose owner died after answering ``success``.

        A turn is an orphan when no HTTP attempt waits for it any more (``waiting_until`` passed) and
        its owner stopped renewing its lease (running), or it finished but was never delivered. The
        takeover runs the turn here (Rasa replays a turn it already processed) and the answer goes
        out through the customer-service API; compare-and-set in the ledger keeps it to one delivery.
        Returns how many turns this sweep recovered.
        """
        if self.ledger is None or self.keyring is None:
            return 0
        now = time.time()
        recovered = 0
        for key in await asyncio.to_thread(self.ledger.open_turns, now - self.lease_s):
            if key in self._inflight:
                continue
            record = await asyncio.to_thread(self.ledger.get, key)
            if record is None or (record.state == "done" and record.delivery):
                await self._close_turn(key)
                continue
            if record.waiting_until + self.lease_s > now:
                continue      # an attempt is (or was just) waiting: retries and the owner handle it
            if record.state == "running":
                if not 0 < record.lease_until < now:
                    continue  # the owner is alive
                msg = self._unseal(key, record.sealed)
                if msg is None:
                    await self._close_turn(key)
                elif await self._take_over(key, msg, plan_for(msg)):
                    log.warning("orphaned turn recovered", extra={"event": "wechat.orphan_recovered",
                                                                   "state": "running", "user": pseudonym(msg.openid)})
                    recovered += 1
                continue
            # finished, never delivered: its owner died between the turn and the send
            msg = self._unseal(key, record.sealed)
            if msg is not None and await asyncio.to_thread(self.ledger.claim_delivery, key, "custom"):
                passive, custom = reply_plan(replies_from_ledger(record.texts, record.menus), self._menus_on())
                log.warning("orphaned answer delivered", extra={"event": "wechat.orphan_recovered",
                                                                "state": "done", "user": pseudonym(msg.openid)})
                await self._send_custom(key, msg.openid, custom or ([passive] if passive else []))
                recovered += 1
            await self._close_turn(key)
        return recovered

    async def sweep_orphans_forever(self, every_s: float = 2.0) -> None:
        """Background task of each replica (the Rasa channel starts it with the server)."""
        while True:
            try:
                await self.recover_orphans()
            except Exception as exc:   # store down: try again next round
                log.warning("orphan sweep failed", extra={"event": "wechat.sweep_failed",
                                                          "error": type(exc).__name__})
            await asyncio.sleep(every_s)

    # ---- running the turn ------------------------------------------------------------------
    async def _run(self, key: str, msg: Inbound, plan: Plan, inflight: _Inflight) -> None:
        heartbeat = self._spawn(self._renew_lease(key))
        try:
            replies = await self._answer(key, msg, plan)
            texts = [reply.text for reply in replies]
            # a menu message can only go through the customer-service API: then so does the whole answer
            passive, custom = reply_plan(replies, self._menus_on())
            delivery = "none" if not texts else ("custom" if custom else "")
            heartbeat.cancel()
            finished = await asyncio.to_thread(self.ledger.finish, key, texts, delivery, self.instance,
                                               menus_for_ledger(replies))
            inflight.answered.set()
            if finished is None:     # taken over meanwhile: the new owner delivers
                log.warning("turn finished after another process took it over; not delivering",
                            extra={"event": "wechat.superseded", "kind": plan.kind})
                return
            if delivery == "custom":
                await self._send_custom(key, msg.openid, custom)
            elif delivery == "":
                await self._fallback_delivery(key, msg.openid, passive or "")
            await self._close_turn(key)
        except Exception:  # never let a background task die silently
            log.exception("turn failed", extra={"event": "wechat.turn_failed", "kind": plan.kind})
        finally:
            heartbeat.cancel()
            inflight.answered.set()
            self._inflight.pop(key, None)

    async def _renew_lease(self, key: str) -> None:
        """Keep this process's lease on a running turn alive (a killed process stops renewing)."""
        assert self.ledger is not None
        while True:
            await asyncio.sleep(self.lease_s / 4)
            try:
                if await asyncio.to_thread(self.ledger.renew, key, self.instance, self.lease_s) is None:
                    return
            except Exception as exc:   # store hiccup: try again next beat
                log.warning("lease not renewed", extra={"event": "wechat.lease_failed",
                                                        "error": type(exc).__name__})

    async def _answer(self, key: str, msg: Inbound, plan: Plan) -> List[Reply]:
        replies: List[Reply] = []
        limited = await self._rate_limited(key, msg, plan)
        if limited is not None:
            return [Reply(text) for text in limited]
        if plan.rasa_text is not None:
            metadata: Dict[str, Any] = {"wechat": {"msg_type": msg.msg_type, "kind": plan.kind}}
            if plan.menu_id:
                metadata[METADATA_KEY] = plan.menu_id
            try:
                messages = await asyncio.wait_for(
                    self.run_turn(plan.rasa_text, msg.openid, key, metadata), self.config.turn_timeout_s)
                replies = replies_from_bot(messages)
            except Exception as exc:
                log.error("bot turn failed", extra={"event": "wechat.bot_error", "kind": plan.kind,
                                                    "error": type(exc).__name__})
                replies = [Reply(REPLY_ERROR)]
        elif plan.reply:
            replies = [Reply(plan.reply)]
        log.info("turn done", extra={"event": "wechat.turn", "kind": plan.kind, "menu_choice": bool(plan.menu_id),
                                     "user": pseudonym(msg.openid), "replies": len(replies),
                                     "menus": sum(1 for r in replies if r.menu)})
        return replies if plan.deliver else []

    async def _rate_limited(self, key: str, msg: Inbound, plan: Plan) -> Optional[List[str]]:
        """None when the message may go on; else what to send instead (the notice once, then nothing).

        Runs once per message (only the ledger's owner answers), and the limiter remembers ``key``,
        so retries of one MsgId never count twice.
        """
        if not plan.deliver or (plan.rasa_text is None and not plan.reply):
            return None
        return await rate_limit_reply(self.limiter, msg.openid, key, "wechat", kind=plan.kind)

    async def _fallback_delivery(self, key: str, openid: str, text: str) -> None:
        """Nobody took the answer as a passive reply while an attempt was waiting: send it via the API."""
        while True:
            record = await asyncio.to_thread(self.ledger.get, key)
            if record is None or record.delivery:
                return
            left = record.waiting_until - time.time()
            if left <= 0:
                break
            await asyncio.sleep(min(left, 0.1))
        if await asyncio.to_thread(self.ledger.claim_delivery, key, "custom") is not None:
            await self._send_custom(key, openid, [text])

    async def _send_custom(self, key: str, openid: str, chunks: List[Part]) -> None:
        if self.api is None:
            log.error("answer ready after the passive deadline but no API credentials to send it",
                      extra={"event": "wechat.undeliverable", "user": pseudonym(openid)})
            await asyncio.to_thread(self.ledger.record_outcome, key, "failed:no_api")
            return
        failed = await send_in_order_async(self._sender(openid), chunks)
        if failed is not None:
            errcode = failed.error.errcode
            log.log(logging.WARNING if errcode in NOT_RETRIED else logging.ERROR, "customer-service message not sent",
                    extra={"event": "wechat.custom_failed", "errcode": errcode, "user": pseudonym(openid),
                           "part": failed.part, "parts": failed.parts})
            await asyncio.to_thread(self.ledger.record_outcome, key, f"failed:{errcode}")
            return
        await asyncio.to_thread(self.ledger.record_outcome, key, "sent")
        log.info("customer-service messages sent", extra={"event": "wechat.custom_sent",
                                                         "user": pseudonym(openid), "parts": len(chunks)})

    # ---- menu messages ---------------------------------------------------------------------
    def _menus_on(self) -> bool:
        """Send menus as menu messages: WECHAT_MSGMENU, API credentials, and no recent 40200."""
        return self.config.msgmenu and self.api is not None and time.monotonic() >= self._menus_refused_until

    def _sender(self, openid: str) -> Callable[[Part], Any]:
        """``send(part)`` for one user: text, or a menu message that falls back to its numbered text."""
        assert self.api is not None
        api = self.api
        return sender_with_menus(functools.partial(api.send_text, openid),
                                 lambda menu: api.send_menu(openid, menu),
                                 NOT_RETRIED, self._menu_refused,
                                 lambda: time.monotonic() < self._menus_refused_until)

    def _menu_refused(self, exc: WeChatApiError) -> None:
        """A menu message was refused (runs on an API thread): its numbered text goes out instead."""
        if exc.errcode == MENU_NOT_ALLOWED:
            # the account may not send menus (not a verified service account): stop trying for a while,
            # so the next clarifications get passive replies again instead of one failing call each
            self._menus_refused_until = time.monotonic() + MENUS_REFUSED_PAUSE_S
        log.warning("menu message refused; sending its numbered text instead",
                    extra={"event": "wechat.menu_refused", "errcode": exc.errcode,
                           "paused_s": MENUS_REFUSED_PAUSE_S if exc.errcode == MENU_NOT_ALLOWED else 0})

    async def _typing(self, openid: str) -> None:
        try:
            await call_api(self.api.typing, openid)  # type: ignore[union-attr]
        except WeChatApiError as exc:
            log.info("typing indicator failed", extra={"event": "wechat.typing_failed", "errcode": exc.errcode})

    def _spawn(self, coro: Awaitable[Any]) -> "asyncio.Task[Any]":
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for background turns and deliveries (tests, graceful shutdown)."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=timeout)

    # ---- responses -------------------------------------------------------------------------
    def _render(self, msg: Inbound, text: str, encrypted: bool, query: Mapping[str, str]) -> HttpReply:
        xml = render_text_reply(to_user=msg.openid, from_user=msg.account, content=text)
        if encrypted and self.crypto is not None:
            xml = self.crypto.encrypt_reply(xml, nonce=query.get("nonce", ""), timestamp=str(int(time.time())))
        return HttpReply(200, xml, XML)

    def too_large(self) -> HttpReply:
        """For adapters that stop reading a body past the limit."""
        if self.problems:
            return self._unavailable()
        return self._reject(Rejected(413, "body too large"), "receive")

    def _unavailable(self) -> HttpReply:
        log.error("wechat channel not configured", extra={"event": "wechat.unconfigured",
                                                         "problems": self.problems})
        return HttpReply(503, "wechat channel not configured")

    @staticmethod
    def _reject(exc: Rejected, stage: str) -> HttpReply:
        log.warning("wechat request rejected", extra={"event": "wechat.rejected", "stage": stage,
                                                      "status": exc.status, "reason": exc.reason})
        return HttpReply(exc.status, "forbidden" if exc.status == 403 else "bad request"
                         if exc.status == 400 else "payload too large" if exc.status == 413 else "error")
