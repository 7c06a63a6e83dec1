"""Outbound WeCom application messages (应用消息) to employees, e.g. hand-off cards for agents.

Usage (from any process, sync; wrap in ``asyncio.to_thread`` inside async code)::

    from connectors.wecom_agent import AgentConfig, AgentMessenger
    messenger = AgentMessenger(AgentConfig.from_settings(load_settings()), store)
    messenger.send_card(["zhangsan"], "新的转人工请求", "用户问：理赔进度……", "https://.../handoffs/42")

Settings: WECOM_CORP_ID, WECOM_AGENT_SECRET, WECOM_AGENT_ID, WECOM_API_BASE_URL.
WeCom limits each member to 30 messages/minute and 1000/hour (errcode 45009 beyond that).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

import requests

from common.settings import Settings, load_settings
from connectors.config import WECOM_API_BASE_URL, _base_url
from connectors.http_api import WeChatApiError
from connectors.kvstore import KeyValueStore
from connectors.replies import split_utf8
from connectors.security import ascii_int
from connectors.wecom_api import WeComApi

TEXT_LIMIT_BYTES = 2048
CARD_TITLE_BYTES = 128
CARD_DESCRIPTION_BYTES = 512


@dataclass(frozen=True)
class AgentConfig:
    corp_id: str = ""
    agent_secret: str = ""
    agent_id: int = 0
    api_base_url: str = WECOM_API_BASE_URL

    @classmethod
    def from_settings(cls, settings: Settings) -> "AgentConfig":
        agent_id = settings.wecom_agent_id or "0"
        return cls(corp_id=settings.wecom_corp_id, agent_secret=settings.wecom_agent_secret,
                   agent_id=ascii_int(agent_id, 12) or 0,
                   api_base_url=_base_url(settings.wecom_api_base_url, WECOM_API_BASE_URL))

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> "AgentConfig":
        return cls.from_settings(load_settings(env))

    @property
    def configured(self) -> bool:
        return bool(self.corp_id and self.agent_secret and self.agent_id)


@dataclass(frozen=True)
class SendResult:
    msgid: str
    invalid_users: List[str]


def _fit(text: str, limit: int) -> str:
    """Truncate to ``limit`` UTF-8 bytes on a character boundary (with an ellipsis when cut)."""
    if len(text.encode("utf-8")) <= limit:
        return text
    return text.encode("utf-8")[: limit - 3].decode("utf-8", "ignore") + "…"


class AgentMessenger:
    """``message/send`` for one self-built WeCom app."""

    def __init__(self, config: AgentConfig, store: KeyValueStore,
                 session: Optional[requests.Session] = None) -> None:
        if not config.configured:
            raise ValueError("WECOM_CORP_ID, WECOM_AGENT_SECRET and WECOM_AGENT_ID are required")
        self.config = config
        self.api = WeComApi(config.corp_id, config.agent_secret, config.api_base_url, store, session)

    def _send(self, user_ids: Sequence[str], msgtype: str, body: Dict[str, Any]) -> SendResult:
        users = [u for u in user_ids if u]
        if not users:
            raise ValueError("no recipients")
        data = self.api.post("message/send", {"touser": "|".join(users[:1000]), "msgtype": msgtype,
                                               "agentid": self.config.agent_id, msgtype: body,
                                               "safe": 0, "enable_duplicate_check": 1,
                                               "duplicate_check_interval": 600})
        invalid = [u for u in str(data.get("invaliduser") or "").split("|") if u]
        return SendResult(str(data.get("msgid", "")), invalid)

    def send_text(self, user_ids: Sequence[str], content: str) -> List[SendResult]:
        """Plain text; long content is split into several messages."""
        return [self._send(user_ids, "text", {"content": part}) for part in split_utf8(content, TEXT_LIMIT_BYTES)]

    def send_card(self, user_ids: Sequence[str], title: str, description: str, url: str,
                  button: str = "详情") -> SendResult:
        """A text card (文本卡片): title, short description, a link the agent taps to take over."""
        return self._send(user_ids, "textcard", {
            "title": _fit(title, CARD_TITLE_BYTES), "description": _fit(description, CARD_DESCRIPTION_BYTES),
            "url": url, "btntxt": _fit(button, 12)})

    def close(self) -> None:
        self.api.close()


def send_agent_card(config: AgentConfig, store: KeyValueStore, user_ids: Sequence[str], title: str,
                    description: str, url: str) -> SendResult:
    """One-shot helper: push a hand-off card to ``user_ids``; raises WeChatApiError on failure."""
    messenger = AgentMessenger(config, store)
    try:
        return messenger.send_card(user_ids, title, description, url)
    finally:
        messenger.close()


__all__ = ["AgentConfig", "AgentMessenger", "SendResult", "WeChatApiError", "send_agent_card"]
