"""Official Account outbound API: customer-service messages (客服消息, text or menu) and the typing indicator.

The token comes from ``cgi-bin/stable_token`` (does not invalidate tokens held by other
processes) through the shared :class:`~connectors.token_cache.SharedToken`.
"""
from __future__ import annotations

from typing import Optional, Tuple

import requests

from connectors.config import WeChatConfig
from connectors.http_api import TIMEOUT, TokenApi, WeChatApiError, request_json
from connectors.kvstore import KeyValueStore
from connectors.menus import Menu
from connectors.token_cache import SharedToken

WINDOW_CLOSED = 45015      # more than 48 h since the user's last message
QUOTA_EXCEEDED = 45047     # too many customer-service messages since the user's last message
NOT_RETRIED = frozenset({WINDOW_CLOSED, QUOTA_EXCEEDED})
MENU_NOT_ALLOWED = 40200   # menu messages are for verified service accounts only


class OfficialAccountApi(TokenApi):
    """``message/custom/send`` and ``message/custom/typing`` for one Official Account."""

    def __init__(self, config: WeChatConfig, store: KeyValueStore,
                 session: Optional[requests.Session] = None, timeout: Tuple[float, float] = TIMEOUT) -> None:
        self.config = config
        session = session or requests.Session()
        token = SharedToken(store, f"wechat:{config.app_id}", self._fetch_token)
        super().__init__(config.api_base_url, token, session, timeout)

    def _fetch_token(self, force_refresh: bool) -> Tuple[str, int]:
        data = request_json(self.session, "POST", self.base_url + "stable_token", path="stable_token",
                            payload={"grant_type": "client_credential", "appid": self.config.app_id,
                                     "secret": self.config.app_secret, "force_refresh": force_refresh},
                            timeout=self.timeout)
        if data.get("errcode") or not data.get("access_token"):
            raise WeChatApiError(int(data.get("errcode") or -1), str(data.get("errmsg", "")), "stable_token")
        return str(data["access_token"]), int(data.get("expires_in") or 7200)

    def send_text(self, openid: str, content: str) -> None:
        """One customer-service text message (content must already fit WeChat's limit)."""
        self.post("message/custom/send", {"touser": openid, "msgtype": "text", "text": {"content": content}})

    def send_menu(self, openid: str, menu: Menu) -> None:
        """One customer-service menu message (菜单消息): head, tappable options, tail."""
        self.post("message/custom/send", {"touser": openid, "msgtype": "msgmenu", "msgmenu": menu.oa_body()})

    def typing(self, openid: str, on: bool = True) -> None:
        self.post("message/custom/typing", {"touser": openid, "command": "Typing" if on else "CancelTyping"})
