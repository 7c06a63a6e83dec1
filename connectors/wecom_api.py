"""WeCom (企业微信) server API: token via ``gettoken``, 微信客服 (kf) endpoints.

wechatpy 2.0.0a26's ``sync_msg`` lacks ``open_kfid`` and nothing in it has timeouts, so the few
endpoints needed are called directly (same shared token cache and retry rule as the
Official Account client).
"""
from __future__ import annotations

import hashlib
from typing import Any, Dict, List, Optional, Tuple

import requests

from connectors.http_api import TIMEOUT, TokenApi, WeChatApiError, request_json
from connectors.kvstore import KeyValueStore
from connectors.menus import Menu
from connectors.token_cache import SharedToken

# kf session states (kf/service_state/get)
STATE_UNTREATED, STATE_BOT, STATE_POOL, STATE_HUMAN, STATE_ENDED = 0, 1, 2, 3, 4
BOT_MAY_SPEAK = frozenset({STATE_UNTREATED, STATE_BOT})
STATE_NOT_ALLOWED = 95018    # kf/send_msg in a state where the API may not speak
SEND_LIMIT = 95001           # more than 5 messages within 48 h of the customer's last message


class WeComApi(TokenApi):
    """One WeCom application (identified by its secret) of one corp."""

    token_errors = frozenset({40014, 42001})

    def __init__(self, corp_id: str, secret: str, base_url: str, store: KeyValueStore,
                 session: Optional[requests.Session] = None, timeout: Tuple[float, float] = TIMEOUT) -> None:
        self.corp_id = corp_id
        self._secret = secret
        tag = hashlib.sha256(secret.encode()).hexdigest()[:10]
        session = session or requests.Session()
        super().__init__(base_url, SharedToken(store, f"wecom:{corp_id}:{tag}", self._fetch_token),
                         session, timeout)

    def _fetch_token(self, force_refresh: bool) -> Tuple[str, int]:
        data = request_json(self.session, "GET", self.base_url + "gettoken", path="gettoken",
                            params={"corpid": self.corp_id, "corpsecret": self._secret}, timeout=self.timeout)
        if data.get("errcode") or not data.get("access_token"):
            raise WeChatApiError(int(data.get("errcode") or -1), str(data.get("errmsg", "")), "gettoken")
        return str(data["access_token"]), int(data.get("expires_in") or 7200)


class KfApi(WeComApi):
    """微信客服: pull messages, read/change the session state, send replies."""

    def sync_msg(self, open_kfid: str, cursor: str = "", token: str = "", limit: int = 1000) -> Dict[str, Any]:
        payload: Dict[str, Any] = {"cursor": cursor, "limit": limit, "open_kfid": open_kfid}
        if token:
            payload["token"] = token
        return self.post("kf/sync_msg", payload)

    def service_state(self, open_kfid: str, external_userid: str) -> Tuple[int, str]:
        data = self.post("kf/service_state/get", {"open_kfid": open_kfid, "external_userid": external_userid})
        return int(data.get("service_state", 0)), str(data.get("servicer_userid", ""))

    def transfer(self, open_kfid: str, external_userid: str, state: int, servicer_userid: str = "") -> None:
        payload: Dict[str, Any] = {"open_kfid": open_kfid, "external_userid": external_userid,
                                   "service_state": state}
        if servicer_userid:
            payload["servicer_userid"] = servicer_userid
        self.post("kf/service_state/trans", payload)

    def send_text(self, open_kfid: str, external_userid: str, content: str) -> str:
        data = self.post("kf/send_msg", {"touser": external_userid, "open_kfid": open_kfid,
                                         "msgtype": "text", "text": {"content": content}})
        return str(data.get("msgid", ""))

    def send_menu(self, open_kfid: str, external_userid: str, menu: Menu) -> str:
        """A menu message (msgmenu, ``click`` items): a tap comes back as a text message with ``menu_id``."""
        data = self.post("kf/send_msg", {"touser": external_userid, "open_kfid": open_kfid,
                                         "msgtype": "msgmenu", "msgmenu": menu.kf_body()})
        return str(data.get("msgid", ""))

    def send_text_on_event(self, code: str, content: str) -> str:
        data = self.post("kf/send_msg_on_event", {"code": code, "msgtype": "text", "text": {"content": content}})
        return str(data.get("msgid", ""))


def message_list(data: Dict[str, Any]) -> List[Dict[str, Any]]:
    items = data.get("msg_list") or []
    return [item for item in items if isinstance(item, dict)]
