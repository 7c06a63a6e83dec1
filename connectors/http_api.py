"""Shared plumbing for WeChat's JSON APIs: errcode handling, one retry on a rejected token.

Synchronous (requests, with timeouts); async code calls it through :func:`connectors.outbound.call_api`.
Each error says whether the call may be repeated: only when it certainly did nothing on WeChat's
side (no connection, a 502/503 gateway error, errcode -1 "system busy", no access_token to call with).
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Dict, FrozenSet, Optional, Tuple

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from connectors.kvstore import LockTimeout
from connectors.token_cache import SharedToken

log = logging.getLogger(__name__)

TIMEOUT: Tuple[float, float] = (3.05, 10.0)   # connect, read
SYSTEM_BUSY = -1                               # WeChat's and WeCom's "系统繁忙，请稍候再试"
GATEWAY_NOT_PROCESSED = frozenset({502, 503})  # 504 is left out: the upstream may have done the work


class WeChatApiError(Exception):
    """A non-zero errcode (or a transport failure, errcode < 0) from a WeChat API.

    ``retryable``: the call certainly had no effect, so repeating it cannot deliver anything twice.
    """

    def __init__(self, errcode: int, errmsg: str, path: str = "", *, retryable: bool = False) -> None:
        super().__init__(f"{path}: errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path
        self.retryable = retryable


def _never_connected(exc: requests.RequestException) -> bool:
    """Connecting failed (refused, no route, name lookup, connect timeout): the request was never sent."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", exc.args[0])
        return isinstance(reason, (NewConnectionError, ConnectTimeoutError))
    return False


def request_json(session: requests.Session, method: str, url: str, *, path: str,
                 params: Optional[Dict[str, str]] = None, payload: Optional[Dict[str, Any]] = None,
                 timeout: Tuple[float, float] = TIMEOUT) -> Dict[str, Any]:
    """One HTTP call; returns the JSON body or raises :class:`WeChatApiError` (errcode -1 transport)."""
    try:
        if method == "GET":
            resp = session.get(url, params=params, timeout=timeout)
        else:
            body = json.dumps(payload or {}, ensure_ascii=False).encode("utf-8")
            resp = session.post(url, params=params, data=body, timeout=timeout,
                                headers={"Content-Type": "application/json; charset=utf-8"})
    except requests.RequestException as exc:
        raise WeChatApiError(-1, f"transport: {type(exc).__name__}", path,
                             retryable=_never_connected(exc)) from None
    if resp.status_code != 200:
        raise WeChatApiError(-1, f"http {resp.status_code}", path,
                             retryable=resp.status_code in GATEWAY_NOT_PROCESSED)
    try:
        data = resp.json()
    except ValueError:
        raise WeChatApiError(-1, "response is not JSON", path) from None
    if not isinstance(data, dict):
        raise WeChatApiError(-1, "response is not an object", path)
    return data


class TokenApi:
    """Calls that need ``?access_token=``; refreshes the shared token and retries once when rejected."""

    token_errors: FrozenSet[int] = frozenset({40001, 40014, 42001})

    def __init__(self, base_url: str, token: SharedToken, session: Optional[requests.Session] = None,
                 timeout: Tuple[float, float] = TIMEOUT) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.token = token
        self.session = session or requests.Session()
        self.timeout = timeout

    def post(self, path: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        access_token = self._token(self.token.get)
        data = request_json(self.session, "POST", self.base_url + path, path=path,
                            params={"access_token": access_token}, payload=payload, timeout=self.timeout)
        if data.get("errcode") in self.token_errors:
            log.warning("access token rejected, refreshing once",
                        extra={"event": "token.rejected", "path": path, "errcode": data.get("errcode")})
            rejected = access_token
            access_token = self._token(lambda: self.token.refresh(rejected))
            data = request_json(self.session, "POST", self.base_url + path, path=path,
                                params={"access_token": access_token}, payload=payload, timeout=self.timeout)
        errcode = int(data.get("errcode", 0) or 0)
        if errcode != 0:
            raise WeChatApiError(errcode, str(data.get("errmsg", "")), path, retryable=errcode == SYSTEM_BUSY)
        return data

    @staticmethod
    def _token(obtain: Callable[[], str]) -> str:
        """An access_token; without one the API call was never made, so a transient failure is retryable."""
        try:
            return obtain()
        except WeChatApiError as exc:
            raise WeChatApiError(exc.errcode, exc.errmsg, exc.path, retryable=exc.errcode < 0) from None
        except LockTimeout:
            raise WeChatApiError(-1, "another process is fetching the access_token", "token",
                                 retryable=True) from None

    def close(self) -> None:
        self.session.close()
