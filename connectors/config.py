"""Channel settings as plain dataclasses.

Rasa passes them in through credentials.yml (``${WECHAT_*}`` expanded from the environment); every
other process builds them from :func:`common.settings.load_settings` with :meth:`from_settings`, so
the variable names are read in one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Mapping, Optional

from common.settings import Settings, load_settings
from connectors.crypto import decode_aes_key

WECHAT_API_BASE_URL = "https://api.weixin.qq.com/cgi-bin/"
WECOM_API_BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin/"


def _text(mapping: Optional[Mapping[str, Any]], key: str, default: str = "") -> str:
    value = (mapping or {}).get(key)
    return default if value is None else str(value).strip()


def _flag(mapping: Optional[Mapping[str, Any]], key: str) -> bool:
    value = (mapping or {}).get(key)
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def _base_url(value: str, default: str) -> str:
    url = value or default
    return url if url.endswith("/") else url + "/"


@dataclass(frozen=True)
class WeChatConfig:
    """Official Account (公众号) channel settings."""

    token: str = ""
    app_id: str = ""
    app_secret: str = ""
    encoding_aes_key: str = ""          # empty = plain mode
    api_base_url: str = WECHAT_API_BASE_URL
    passive_deadline_s: float = 4.0     # WeChat gives up after 5 s; leave time for the response
    turn_timeout_s: float = 60.0
    # WECHAT_MSGMENU: send a bot message's custom.msgmenu as a menu message (菜单消息). Needs a verified
    # service account (others get 40200, then the numbered text goes out); false = the numbered text
    msgmenu: bool = False

    @classmethod
    def from_credentials(cls, creds: Optional[Mapping[str, Any]]) -> "WeChatConfig":
        deadline = _text(creds, "passive_deadline_s")
        return cls(
            token=_text(creds, "token"),
            app_id=_text(creds, "app_id"),
            app_secret=_text(creds, "app_secret"),
            encoding_aes_key=_text(creds, "encoding_aes_key"),
            api_base_url=_base_url(_text(creds, "api_base_url"), WECHAT_API_BASE_URL),
            passive_deadline_s=float(deadline) if deadline else 4.0,
            msgmenu=_flag(creds, "msgmenu"),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> "WeChatConfig":
        return cls.from_credentials({
            "token": settings.wechat_token, "app_id": settings.wechat_app_id,
            "app_secret": settings.wechat_app_secret, "encoding_aes_key": settings.wechat_encoding_aes_key,
            "api_base_url": settings.wechat_api_base_url, "msgmenu": settings.wechat_msgmenu,
        })

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> "WeChatConfig":
        return cls.from_settings(load_settings(env))

    @property
    def encrypted(self) -> bool:
        return bool(self.encoding_aes_key)

    def problems(self) -> List[str]:
        """Why the channel cannot serve (empty list = ready). Secrets are never included."""
        found = []
        if not self.token:
            found.append("WECHAT_TOKEN is empty")
        if self.encoding_aes_key:
            try:
                decode_aes_key(self.encoding_aes_key)
            except ValueError as exc:
                found.append(f"WECHAT_ENCODING_AES_KEY invalid: {exc}")
            if not self.app_id:
                found.append("WECHAT_APP_ID is required in safe/compatible mode")
        return found

    def warnings(self) -> List[str]:
        """Non-fatal gaps: passive replies still work, customer-service messages do not."""
        if not (self.app_id and self.app_secret):
            return ["WECHAT_APP_ID/WECHAT_APP_SECRET empty: slow answers cannot be delivered"]
        return []


@dataclass(frozen=True)
class WeComKfConfig:
    """WeCom customer service (微信客服) channel settings."""

    corp_id: str = ""
    kf_secret: str = ""
    token: str = ""
    encoding_aes_key: str = ""
    open_kfid: str = ""
    api_base_url: str = WECOM_API_BASE_URL
    turn_timeout_s: float = 60.0

    @classmethod
    def from_credentials(cls, creds: Optional[Mapping[str, Any]]) -> "WeComKfConfig":
        return cls(
            corp_id=_text(creds, "corp_id"), kf_secret=_text(creds, "kf_secret"),
            token=_text(creds, "token"), encoding_aes_key=_text(creds, "encoding_aes_key"),
            open_kfid=_text(creds, "open_kfid"),
            api_base_url=_base_url(_text(creds, "api_base_url"), WECOM_API_BASE_URL),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> "WeComKfConfig":
        return cls.from_credentials({
            "corp_id": settings.wecom_corp_id, "kf_secret": settings.wecom_kf_secret,
            "token": settings.wecom_token, "encoding_aes_key": settings.wecom_encoding_aes_key,
            "open_kfid": settings.wecom_open_kfid, "api_base_url": settings.wecom_api_base_url,
        })

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> "WeComKfConfig":
        return cls.from_settings(load_settings(env))

    def problems(self) -> List[str]:
        found = []
        for name, value in (("WECOM_CORP_ID", self.corp_id), ("WECOM_KF_SECRET", self.kf_secret),
                            ("WECOM_TOKEN", self.token),
                            ("WECOM_ENCODING_AES_KEY", self.encoding_aes_key)):
            if not value:
                found.append(f"{name} is empty")
        if self.encoding_aes_key:
            try:
                decode_aes_key(self.encoding_aes_key)
            except ValueError as exc:
                found.append(f"WECOM_ENCODING_AES_KEY invalid: {exc}")
        return found
