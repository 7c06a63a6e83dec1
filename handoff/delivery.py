"""Outbound messages of a hand-off, through the connectors' clients (WeChat/WeCom protocol lives there).

- to the user, by the channel the user came from: ``wechat`` -> Official Account customer-service
  API; ``wecom_kf`` -> ``kf/send_msg`` while the session is bot-handled, and the session itself
  moves natively (``kf/service_state/trans`` to 3 + servicer) so the agent replies in WeCom;
  anything else (``rest``, tests) -> the outbox the REST client polls.
- to the agent: WeCom application messages (``message/send``), the context card and mirrored user
  messages, so an agent can work from the WeCom app alone.

Synchronous (the connectors use ``requests``); the web service calls it from worker threads.
"""
from __future__ import annotations

import logging
import threading
from typing import Mapping, Optional, Protocol, Sequence

from common.settings import load_settings
from connectors.config import WeChatConfig, WeComKfConfig
from connectors.http_api import WeChatApiError
from connectors.kvstore import KeyValueStore, open_store
from connectors.logsafe import pseudonym
from connectors.outbound import send_in_order
from connectors.replies import split_utf8
from connectors.wechat_api import OfficialAccountApi
from connectors.wecom_agent import AgentConfig, AgentMessenger
from connectors.wecom_api import STATE_BOT, STATE_ENDED, STATE_HUMAN, KfApi

log = logging.getLogger(__name__)

OUTBOX = "outbox"
SENT = "sent"


class UserDelivery(Protocol):
    def send(self, channel: str, user_id: str, text: str, open_kfid: Optional[str] = None) -> str: ...
    def kf_to_agent(self, open_kfid: str, user_id: str, servicer_userid: str) -> str: ...
    def kf_to_bot(self, open_kfid: str, user_id: str) -> str: ...
    def kf_state(self, open_kfid: str, user_id: str) -> Optional[int]: ...


class AgentNotifier(Protocol):
    configured: bool
    def card(self, wecom_userid: str, title: str, description: str, url: str) -> None: ...
    def text(self, wecom_userid: str, text: str) -> None: ...


class ChannelDelivery:
    """Sends to users; every method returns a short delivery status (never raises for API errors)."""

    def __init__(self, store: KeyValueStore, env: Optional[Mapping[str, str]] = None) -> None:
        settings = load_settings(env)
        self.store = store
        self.wechat_config = WeChatConfig.from_settings(settings)
        self.kf_config = WeComKfConfig.from_settings(settings)
        self._oa: Optional[OfficialAccountApi] = None
        self._kf: Optional[KfApi] = None
        self._lock = threading.Lock()

    def _oa_api(self) -> Optional[OfficialAccountApi]:
        with self._lock:
            if self._oa is None and self.wechat_config.app_id and self.wechat_config.app_secret:
                self._oa = OfficialAccountApi(self.wechat_config, self.store)
            return self._oa

    def _kf_api(self) -> Optional[KfApi]:
        with self._lock:
            cfg = self.kf_config
            if self._kf is None and cfg.corp_id and cfg.kf_secret:
                self._kf = KfApi(cfg.corp_id, cfg.kf_secret, cfg.api_base_url, self.store)
            return self._kf

    def default_open_kfid(self) -> str:
        return self.kf_config.open_kfid

    def send(self, channel: str, user_id: str, text: str, open_kfid: Optional[str] = None) -> str:
        if channel == "wechat":
            api = self._oa_api()
            if api is None:
                return "failed:unconfigured"
            return _each_chunk(text, lambda chunk: api.send_text(user_id, chunk), user_id)
        if channel == "wecom_kf":
            api = self._kf_api()
            kfid = open_kfid or self.kf_config.open_kfid
            if api is None or not kfid:
                return "failed:unconfigured"
            return _each_chunk(text, lambda chunk: api.send_text(kfid, user_id, chunk), user_id)
        return OUTBOX

    def _trans(self, open_kfid: str, user_id: str, state: int, servicer: str = "") -> str:
        api = self._kf_api()
        if api is None or not open_kfid:
            return "failed:unconfigured"
        try:
            api.transfer(open_kfid, user_id, state, servicer)
        except WeChatApiError as exc:
            log.warning("kf session transfer failed", extra={"event": "handoff.kf_trans_failed", "state": state,
                                                             "errcode": exc.errcode, "user": pseudonym(user_id)})
            return f"failed:{exc.errcode}"
        return SENT

    def kf_to_agent(self, open_kfid: str, user_id: str, servicer_userid: str) -> str:
        """State 3 with the agent as servicer: WeCom routes the customer to the agent's own client."""
        return self._trans(open_kfid, user_id, STATE_HUMAN, servicer_userid)

    def kf_to_bot(self, open_kfid: str, user_id: str) -> str:
        """Back to the bot (state 1); WeCom may refuse 3 -> 1, then end the session (4): the next
        customer message starts at 0 and reaches the bot anyway."""
        status = self._trans(open_kfid, user_id, STATE_BOT)
        return status if status == SENT else self._trans(open_kfid, user_id, STATE_ENDED)

    def kf_state(self, open_kfid: str, user_id: str) -> Optional[int]:
        api = self._kf_api()
        if api is None or not open_kfid:
            return None
        try:
            return api.service_state(open_kfid, user_id)[0]
        except WeChatApiError:
            return None


def _each_chunk(text: str, send, user_id: str) -> str:
    failed = send_in_order(send, split_utf8(text))
    if failed is not None:
        log.warning("message to user not sent", extra={"event": "handoff.user_send_failed",
                                                      "errcode": failed.error.errcode, "user": pseudonym(user_id)})
        return f"failed:{failed.error.errcode}"
    return SENT


class WeComAgentNotifier:
    """WeCom app messages to agents (``message/send``); a no-op when the app is not configured."""

    def __init__(self, store: KeyValueStore, env: Optional[Mapping[str, str]] = None) -> None:
        self.config = AgentConfig.from_settings(load_settings(env))
        self.store = store
        self._messenger: Optional[AgentMessenger] = None
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return self.config.configured

    def _get(self) -> Optional[AgentMessenger]:
        with self._lock:
            if self._messenger is None and self.config.configured:
                self._messenger = AgentMessenger(self.config, self.store)
            return self._messenger

    def card(self, wecom_userid: str, title: str, description: str, url: str) -> None:
        messenger = self._get()
        if messenger is None:
            raise WeChatApiError(-1, "WeCom agent app not configured", "message/send")
        messenger.send_card([wecom_userid], title, description, url)

    def text(self, wecom_userid: str, text: str) -> None:
        messenger = self._get()
        if messenger is None:
            raise WeChatApiError(-1, "WeCom agent app not configured", "message/send")
        messenger.send_text([wecom_userid], text)


def shared_store(redis_url: str, var_dir) -> KeyValueStore:
    """The connectors' store (token cache shared with the Rasa process: no access_token thrash)."""
    return open_store(redis_url, var_dir)


__all__: Sequence[str] = ["ChannelDelivery", "WeComAgentNotifier", "OUTBOX", "SENT", "shared_store"]
