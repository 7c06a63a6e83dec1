"""Rasa custom channel ``wechat`` (Official Account), a thin adapter around WeChatWebhook.

credentials.yml::

    connectors.wechat_channel.WeChatInput:
      token: ${WECHAT_TOKEN}
      app_id: ${WECHAT_APP_ID}
      app_secret: ${WECHAT_APP_SECRET}
      encoding_aes_key: ${WECHAT_ENCODING_AES_KEY}
      api_base_url: ${WECHAT_API_BASE_URL}

WECHAT_MSGMENU (menu messages, default false) is read from the settings/environment, not from
credentials.yml (an optional ``msgmenu:`` key there overrides it).

Webhook: ``/webhooks/wechat/webhook`` (GET = URL verification, POST = messages). With an empty
token the channel loads but answers 503, so Rasa starts without WeChat settings. Empty credentials
fall back to :func:`common.settings.load_settings` (same variable names). Outside development the
channel refuses to load with unsafe secrets (:mod:`common.secret_check`); messages over the per-user
rate limit never reach Rasa (:mod:`connectors.ratelimit`). Turns run through
:func:`connectors.turn_guard.guarded_turn_runner`: one Rasa turn per MsgId even across crashes, and an
apology with a hand-off offer when the action server fails.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import asdict, replace
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from common.secret_check import check_production_secrets
from common.settings import Settings, load_settings
from connectors.config import WeChatConfig
from connectors.kvstore import KeyValueStore, open_store
from connectors.ledger import TurnLedger
from connectors.logsafe import pseudonym
from connectors.menus import menu_of
from connectors.outbound import send_in_order_async, sender_with_menus
from connectors.ratelimit import describe, open_limiter
from connectors.rasa_glue import configure_connector_logging, once_the_model_is_loaded, query_of, read_limited
from connectors.replies import message_parts, parts_with_menus, replies_from_bot, texts_from_bot
from connectors.turn_guard import guarded_turn_runner
from connectors.wechat_api import NOT_RETRIED, OfficialAccountApi
from connectors.wechat_webhook import HttpReply, WeChatWebhook
from transcripts.crypto import KeyConfigError, KeyRing

log = logging.getLogger(__name__)


class WeChatOutput(OutputChannel):
    """Pushes bot messages through the customer-service API.

    Rasa uses it outside webhook turns, e.g. ``POST /conversations/{id}/trigger_intent?output_channel=wechat``
    (agent hand-back, reminders). Webhook turns collect their messages instead. A message carrying
    ``custom.msgmenu`` goes out as one menu message when ``menus`` (WECHAT_MSGMENU), else as its text.
    """

    @classmethod
    def name(cls) -> Text:
        return "wechat"

    def __init__(self, api: OfficialAccountApi, menus: bool = False) -> None:
        self.api = api
        self.menus = menus

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        if menu_of(message) is None:
            await super().send_response(recipient_id, message)
            return
        # text and menu are one message: the menu, or the numbered text, never both
        replies = replies_from_bot([message])
        parts = parts_with_menus(replies) if self.menus else message_parts([r.text for r in replies])
        await self._send_parts(recipient_id, parts)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._send(recipient_id, [text])

    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons: Any, **kwargs: Any) -> None:
        await self._send(recipient_id, texts_from_bot([{"text": text, "buttons": buttons}]))

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self._send(recipient_id, texts_from_bot([{"image": image}]))

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        await self._send(recipient_id, texts_from_bot([{"custom": json_message}]))

    async def _send(self, recipient_id: str, texts: Any) -> None:
        await self._send_parts(recipient_id, message_parts(texts))

    async def _send_parts(self, recipient_id: str, parts: Any) -> None:
        send = sender_with_menus(functools.partial(self.api.send_text, recipient_id),
                                 functools.partial(self.api.send_menu, recipient_id), NOT_RETRIED)
        failed = await send_in_order_async(send, parts)
        if failed is not None:
            log.warning("customer-service message not sent",
                        extra={"event": "wechat.custom_failed", "errcode": failed.error.errcode,
                               "user": pseudonym(recipient_id)})


class WeChatInput(InputChannel):
    """WeChat Official Account (公众号) webhook."""

    @classmethod
    def name(cls) -> Text:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WeChatInput":
        settings = load_settings()
        given = {k: v for k, v in (credentials or {}).items() if v not in (None, "")}
        config = WeChatConfig.from_credentials({**asdict(WeChatConfig.from_settings(settings)), **given})
        # credentials.yml may hold literal values: check what the channel will really use
        check_production_secrets(replace(settings, wechat_token=config.token, wechat_app_id=config.app_id,
                                          wechat_app_secret=config.app_secret,
                                          wechat_encoding_aes_key=config.encoding_aes_key),
                                 "rasa: wechat channel")
        return cls(config, settings)

    def __init__(self, config: WeChatConfig, settings: Optional[Settings] = None) -> None:
        settings = settings or load_settings()
        configure_connector_logging(settings.log_level)
        self.config = config
        self.settings = settings
        self._store: Optional[KeyValueStore] = None
        self._api: Optional[OfficialAccountApi] = None
        self._redis_url = settings.redis_url
        self._var_dir = settings.var_dir
        problems = config.problems()
        if problems:
            log.error("wechat channel disabled (answers 503) until configured",
                      extra={"event": "wechat.unconfigured", "problems": problems})
        for warning in ([] if problems else config.warnings()):
            log.warning(warning, extra={"event": "wechat.partially_configured"})
        log.info("wechat rate limit", extra={"event": "wechat.rate_limit", **describe(settings)})

    def _shared_store(self) -> KeyValueStore:
        if self._store is None:
            self._store = open_store(self._redis_url, self._var_dir)
        return self._store

    def _outbound_api(self) -> Optional[OfficialAccountApi]:
        if self._api is None and self.config.app_id and self.config.app_secret and not self.config.problems():
            self._api = OfficialAccountApi(self.config, self._shared_store())
        return self._api

    def _keyring(self) -> Optional[KeyRing]:
        """The transcript keys seal messages in the ledger (orphan recovery); without them, no recovery."""
        try:
            return KeyRing.from_settings(self.settings)
        except KeyConfigError as exc:
            log.error("orphaned WeChat turns will not be recovered", extra={"event": "wechat.no_recovery",
                                                                            "reason": str(exc)})
            return None

    def get_output_channel(self) -> Optional[OutputChannel]:
        api = self._outbound_api()
        return WeChatOutput(api, menus=self.config.msgmenu) if api is not None else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("wechat_webhook", __name__)
        holder: Dict[str, Any] = {}

        def hook_for(app: Any) -> WeChatWebhook:
            # built when the server starts (or on first use): nothing is opened while Rasa loads channels
            if "hook" not in holder:
                configured = not self.config.problems()
                holder["hook"] = WeChatWebhook(
                    self.config, TurnLedger(self._shared_store()) if configured else None,
                    guarded_turn_runner(lambda: getattr(app.ctx, "agent", None), on_new_message, self.name()),
                    self._outbound_api() if configured else None,
                    limiter=open_limiter(self.settings, self.name()),
                    keyring=self._keyring() if configured else None)
            return holder["hook"]

        def webhook(request: Request) -> WeChatWebhook:
            return hook_for(request.app)

        @bp.listener("after_server_start")
        async def start_orphan_sweep(app: Any, loop: Any) -> None:
            hook = hook_for(app)
            if hook.ledger is None or hook.keyring is None:
                return

            holder["sweep"] = loop.create_task(once_the_model_is_loaded(app, hook.sweep_orphans_forever))

        @bp.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if not self.config.problems() else "unconfigured"})

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            return _to_sanic(await webhook(request).verify(query_of(request)))

        @bp.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            body = await read_limited(request)
            if body is None:
                return _to_sanic(webhook(request).too_large())
            return _to_sanic(await webhook(request).receive(query_of(request), body))

        return bp


def _to_sanic(reply: HttpReply) -> HTTPResponse:
    return response.text(reply.body, status=reply.status, content_type=reply.content_type)
