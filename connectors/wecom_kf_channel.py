"""Rasa custom channel ``wecom_kf`` (WeCom customer service, 微信客服), a thin adapter.

credentials.yml::

    connectors.wecom_kf_channel.WeComKfInput:
      corp_id: ${WECOM_CORP_ID}
      kf_secret: ${WECOM_KF_SECRET}
      token: ${WECOM_TOKEN}
      encoding_aes_key: ${WECOM_ENCODING_AES_KEY}
      open_kfid: ${WECOM_OPEN_KFID}
      api_base_url: ${WECOM_API_BASE_URL}

Callback URL: ``/webhooks/wecom_kf/webhook``. Unconfigured = 503. Empty credentials fall back to
:func:`common.settings.load_settings`; unsafe secrets outside development stop Rasa at start-up;
messages over the per-user rate limit never reach Rasa.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, replace
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from common.secret_check import check_production_secrets
from common.settings import Settings, load_settings
from connectors.config import WeComKfConfig
from connectors.kvstore import KeyValueStore, open_store
from connectors.logsafe import pseudonym
from connectors.outbound import send_in_order_async
from connectors.ratelimit import open_limiter
from connectors.rasa_glue import configure_connector_logging, once_the_model_is_loaded, query_of, read_limited
from connectors.menus import menu_of
from connectors.replies import message_parts, parts_with_menus, replies_from_bot, texts_from_bot
from connectors.turn_guard import guarded_turn_runner
from connectors.wechat_webhook import HttpReply
from connectors.wecom_api import KfApi
from connectors.wecom_kf import WeComKfWebhook, kf_sender

log = logging.getLogger(__name__)


class WeComKfOutput(OutputChannel):
    """Sends via ``kf/send_msg`` (e.g. ``trigger_intent?output_channel=wecom_kf``)."""

    @classmethod
    def name(cls) -> Text:
        return "wecom_kf"

    def __init__(self, api: KfApi, open_kfid: str) -> None:
        self.api = api
        self.open_kfid = open_kfid

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        if menu_of(message) is None:
            await super().send_response(recipient_id, message)
            return
        await self._send_parts(recipient_id, parts_with_menus(replies_from_bot([message])))   # one menu message

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._send(recipient_id, [text])

    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons: Any, **kwargs: Any) -> None:
        await self._send(recipient_id, texts_from_bot([{"text": text, "buttons": buttons}]))

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        await self._send(recipient_id, texts_from_bot([{"custom": json_message}]))

    async def _send(self, recipient_id: str, texts: Any) -> None:
        await self._send_parts(recipient_id, message_parts(texts))

    async def _send_parts(self, recipient_id: str, parts: Any) -> None:
        failed = await send_in_order_async(kf_sender(self.api, self.open_kfid, recipient_id), parts)
        if failed is not None:
            log.warning("kf message not sent", extra={"event": "wecom_kf.send_failed",
                                                      "errcode": failed.error.errcode,
                                                      "user": pseudonym(recipient_id)})


class WeComKfInput(InputChannel):
    """微信客服 callback: verification, kf_msg_or_event -> sync -> Rasa -> kf/send_msg."""

    @classmethod
    def name(cls) -> Text:
        return "wecom_kf"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WeComKfInput":
        settings = load_settings()
        given = {k: v for k, v in (credentials or {}).items() if v not in (None, "")}
        config = WeComKfConfig.from_credentials({**asdict(WeComKfConfig.from_settings(settings)), **given})
        # credentials.yml may hold literal values: check what the channel will really use
        check_production_secrets(replace(settings, wecom_corp_id=config.corp_id, wecom_kf_secret=config.kf_secret,
                                          wecom_token=config.token, wecom_encoding_aes_key=config.encoding_aes_key,
                                          wecom_open_kfid=config.open_kfid),
                                 "rasa: wecom_kf channel")
        return cls(config, settings)

    def __init__(self, config: WeComKfConfig, settings: Optional[Settings] = None) -> None:
        settings = settings or load_settings()
        configure_connector_logging(settings.log_level)
        self.config = config
        self.settings = settings
        self._redis_url, self._var_dir = settings.redis_url, settings.var_dir
        self._store: Optional[KeyValueStore] = None
        self._api: Optional[KfApi] = None
        if config.problems():
            log.error("wecom_kf channel disabled (answers 503) until configured",
                      extra={"event": "wecom_kf.unconfigured", "problems": config.problems()})

    def _shared(self) -> KeyValueStore:
        if self._store is None:
            self._store = open_store(self._redis_url, self._var_dir)
        return self._store

    def _kf_api(self) -> Optional[KfApi]:
        if self._api is None and not self.config.problems():
            self._api = KfApi(self.config.corp_id, self.config.kf_secret, self.config.api_base_url, self._shared())
        return self._api

    def get_output_channel(self) -> Optional[OutputChannel]:
        api = self._kf_api()
        if api is None or not self.config.open_kfid:
            return None
        return WeComKfOutput(api, self.config.open_kfid)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("wecom_kf_webhook", __name__)
        holder: Dict[str, Any] = {}

        def hook_for(app: Any) -> WeComKfWebhook:
            if "hook" not in holder:
                configured = not self.config.problems()
                runner = guarded_turn_runner(lambda: getattr(app.ctx, "agent", None), on_new_message, self.name())
                holder["hook"] = WeComKfWebhook(self.config, self._shared() if configured else None,
                                                runner,
                                                self._kf_api() if configured else None,
                                                limiter=open_limiter(self.settings, self.name()))
            return holder["hook"]

        def webhook(request: Request) -> WeComKfWebhook:
            return hook_for(request.app)

        @bp.listener("after_server_start")
        async def catch_up_at_start(app: Any, loop: Any) -> None:
            # messages that arrived while no replica listened get their answer without a new callback
            if self.config.problems():
                return
            hook = hook_for(app)

            async def catch_up() -> None:
                hook.catch_up()

            holder["catch_up"] = loop.create_task(once_the_model_is_loaded(app, catch_up))

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
                return response.text("payload too large", status=413)
            return _to_sanic(await webhook(request).receive(query_of(request), body))

        return bp


def _to_sanic(reply: HttpReply) -> HTTPResponse:
    return response.text(reply.body, status=reply.status, content_type=reply.content_type)
