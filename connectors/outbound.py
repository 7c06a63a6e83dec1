"""Outbound WeChat/WeCom API calls: their own worker threads, and in-order sends with safe retries.

The clients are synchronous (``requests``; waits of up to 13 s for a slow API and 15 s for the
token lock). Run on asyncio's default executor (6 threads on 2 cores) they would queue the
dedupe-store calls of new messages behind them, and a slow WeChat API would push every passive
reply past its deadline. ``call_api`` runs them on a pool of their own instead.

``send_in_order`` sends the parts of one answer in order and retries a part only when the
failure shows that nothing reached WeChat (no connection, 502/503, errcode -1 "system busy", no
access_token): a read timeout may have delivered it, and a duplicate answer is worse than a late
one, so it is not retried.

``sender_with_menus`` sends the parts of an answer that may hold menu messages: a menu the platform
refuses outright (an errcode > 0 such as 40200, unverified account) is replaced by its numbered text.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import AbstractSet, Any, Callable, Optional, Sequence, Tuple, TypeVar

from connectors.http_api import WeChatApiError
from connectors.menus import Menu
from connectors.replies import MenuPart

log = logging.getLogger(__name__)

T = TypeVar("T")

API_THREADS = 16
RETRY_DELAYS_S: Tuple[float, ...] = (0.5, 2.0)     # three attempts in all, ~2.5 s apart at most

_pool: Optional[ThreadPoolExecutor] = None
_pool_lock = threading.Lock()


def _api_pool() -> ThreadPoolExecutor:
    """Created on first use (nothing happens at import)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=API_THREADS, thread_name_prefix="wechat-api")
        return _pool


async def call_api(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on the API threads, so it never waits behind (or blocks) other executor work."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_api_pool(), functools.partial(fn, *args))


@dataclass(frozen=True)
class Undelivered:
    """Why an answer stopped: parts before ``part`` went out, ``part`` and the rest did not."""

    part: int
    parts: int
    error: WeChatApiError


def send_in_order(send: Callable[[str], Any], parts: Sequence[str],
                  retry_delays: Optional[Sequence[float]] = None) -> Optional[Undelivered]:
    """Send ``parts`` one after another; None when all went out, else where and why it stopped."""
    delays = RETRY_DELAYS_S if retry_delays is None else retry_delays
    for index, part in enumerate(parts):
        for attempt in range(len(delays) + 1):
            try:
                send(part)
                break
            except WeChatApiError as exc:
                if not exc.retryable or attempt == len(delays):
                    return Undelivered(index, len(parts), exc)
                log.info("outbound call failed before reaching WeChat; retrying",
                         extra={"event": "outbound.retry", "path": exc.path, "errcode": exc.errcode,
                                "attempt": attempt + 1})
                time.sleep(delays[attempt])
    return None


async def send_in_order_async(send: Callable[[str], Any], parts: Sequence[str]) -> Optional[Undelivered]:
    """:func:`send_in_order` on the API threads (its retry pauses never touch the event loop)."""
    return await call_api(send_in_order, send, parts)


def sender_with_menus(send_text: Callable[[str], Any], send_menu: Callable[[Menu], Any],
                      refusals_text_shares: AbstractSet[int] = frozenset(),
                      on_refused: Optional[Callable[[WeChatApiError], None]] = None,
                      menus_off: Callable[[], bool] = lambda: False) -> Callable[[Any], Any]:
    """One ``send(part)`` for :func:`send_in_order`: text parts as text, :class:`MenuPart` as a menu.

    A menu refused with an errcode > 0 (the platform answered and sent nothing) goes out as its numbered
    text instead, unless the refusal would stop a text too (``refusals_text_shares``: the 48-hour window,
    the quota, the session state): then the failure stands. Retryable failures (-1, 502/503, no token)
    and read timeouts are left to :func:`send_in_order` as for any part: retried, or not (the menu may
    have arrived). ``menus_off()`` true: menus go out as text without trying (e.g. after a 40200).
    """
    def send(part: Any) -> Any:
        if not isinstance(part, MenuPart):
            return send_text(part)
        if not menus_off():
            try:
                return send_menu(part.menu)
            except WeChatApiError as exc:
                if exc.retryable or exc.errcode <= 0 or exc.errcode in refusals_text_shares:
                    raise
                if on_refused is not None:
                    on_refused(exc)
        return send_text(part.text)

    return send
