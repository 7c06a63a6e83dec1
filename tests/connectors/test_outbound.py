"""Outbound calls: which failures are retried (only those that sent nothing), in-order sends, own threads."""
from __future__ import annotations

import asyncio
import functools
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from connectors import outbound
from connectors.config import WeChatConfig
from connectors.http_api import WeChatApiError
from connectors.kvstore import SqliteStore, locked
from connectors.outbound import call_api, send_in_order, send_in_order_async
from connectors.wechat_api import OfficialAccountApi

from .conftest import APP_ID, APP_SECRET

OPENID = "oOutbound0000000000000000001"
NO_PAUSE = (0.0, 0.0)


def api_for(platform, store, timeout=(3.05, 10.0)) -> OfficialAccountApi:
    cfg = WeChatConfig(token="t", app_id=APP_ID, app_secret=APP_SECRET, api_base_url=platform.base_url)
    return OfficialAccountApi(cfg, store, timeout=timeout)


def send_error(platform, store, timeout=(3.05, 10.0)) -> WeChatApiError:
    platform.user_interacted(OPENID)
    with pytest.raises(WeChatApiError) as err:
        api_for(platform, store, timeout).send_text(OPENID, "你好")
    return err.value


# ---- which failures may be retried ---------------------------------------------------------------
def test_system_busy_and_gateway_errors_are_retryable(platform, sqlite_store):
    platform.fail_next("message/custom/send", -1)
    busy = send_error(platform, sqlite_store)
    assert (busy.errcode, busy.retryable) == (-1, True)
    for status in (502, 503):
        platform.fail_http_next("message/custom/send", status)
        gateway = send_error(platform, sqlite_store)
        assert gateway.retryable and str(status) in gateway.errmsg
    assert platform.messages_to(OPENID) == []


def test_refusals_and_gateway_timeouts_are_not_retried(platform, sqlite_store):
    for errcode in (45015, 45047, 40003):
        platform.fail_next("message/custom/send", errcode)
        assert not send_error(platform, sqlite_store).retryable
    platform.fail_http_next("message/custom/send", 504)      # the upstream may have processed it
    assert not send_error(platform, sqlite_store).retryable


def test_a_read_timeout_is_not_retried_because_the_message_may_have_arrived(platform, sqlite_store):
    platform.delay("message/custom/send", 0.6)
    err = send_error(platform, sqlite_store, timeout=(3.05, 0.2))
    assert err.errcode == -1 and not err.retryable
    assert platform.wait_for(lambda p: p.messages_to(OPENID) == ["你好"], timeout=5)   # it did arrive


def test_no_connection_and_no_token_are_retryable(platform, sqlite_store, tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    cfg = WeChatConfig(token="t", app_id=APP_ID, app_secret=APP_SECRET,
                       api_base_url=f"http://127.0.0.1:{port}/cgi-bin/")
    down = OfficialAccountApi(cfg, sqlite_store)
    with pytest.raises(WeChatApiError) as no_token:           # the token endpoint cannot be reached
        down.send_text(OPENID, "x")
    assert no_token.value.retryable and no_token.value.path == "stable_token"
    sqlite_store.set(f"token:{down.token.name}",
                     json.dumps({"token": "cached", "expires_at": time.time() + 7200}), 7200)
    with pytest.raises(WeChatApiError) as refused:            # a cached token, the API itself refuses connections
        down.send_text(OPENID, "x")
    assert refused.value.retryable and refused.value.path == "message/custom/send"

    platform.fail_next("stable_token", -1)                    # the token endpoint is busy: nothing was sent
    fresh_store = SqliteStore(tmp_path / "fresh.sqlite3")
    no_token_yet = send_error(platform, fresh_store)
    assert no_token_yet.retryable and no_token_yet.path == "stable_token"
    assert platform.messages_to(OPENID) == []

    api = api_for(platform, sqlite_store)
    api.token.lock_wait_s = 0.2
    with locked(sqlite_store, f"token:{api.token.name}", ttl_s=5, wait_s=1):   # another process refreshes
        with pytest.raises(WeChatApiError) as busy_lock:
            api.send_text(OPENID, "x")
    assert busy_lock.value.retryable


# ---- in-order sends ----------------------------------------------------------------------------
class Recorder:
    """A send function that fails with the queued errors first."""

    def __init__(self, *errors: WeChatApiError) -> None:
        self.errors = list(errors)
        self.attempts: list = []
        self.sent: list = []

    def __call__(self, part: str) -> None:
        self.attempts.append(part)
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(part)


def busy() -> WeChatApiError:
    return WeChatApiError(-1, "system busy", "message/custom/send", retryable=True)


def test_retryable_failures_are_retried_and_order_is_kept():
    send = Recorder(busy(), busy())
    assert send_in_order(send, ["一", "二", "三"], NO_PAUSE) is None
    assert send.sent == ["一", "二", "三"] and send.attempts == ["一", "一", "一", "二", "三"]


def test_attempts_are_bounded_and_the_rest_is_not_sent():
    send = Recorder(*(busy() for _ in range(5)))
    failed = send_in_order(send, ["一", "二"], NO_PAUSE)
    assert failed is not None and (failed.part, failed.parts, failed.error.errcode) == (0, 2, -1)
    assert send.attempts == ["一"] * 3 and send.sent == []


def test_a_final_refusal_stops_at_once():
    send = Recorder(WeChatApiError(45015, "window closed", "message/custom/send"))
    failed = send_in_order(send, ["一", "二"], NO_PAUSE)
    assert failed is not None and failed.error.errcode == 45015
    assert send.attempts == ["一"]


def test_a_busy_api_is_delivered_through_the_real_client(platform, sqlite_store):
    platform.user_interacted(OPENID)
    platform.fail_next("message/custom/send", -1)
    platform.fail_http_next("message/custom/send", 503)
    api = api_for(platform, sqlite_store)
    assert send_in_order(functools.partial(api.send_text, OPENID), ["第一段", "第二段"], NO_PAUSE) is None
    assert platform.messages_to(OPENID) == ["第一段", "第二段"]
    assert platform.count("message/custom/send") == 4


# ---- own threads -------------------------------------------------------------------------------
def test_api_calls_do_not_wait_behind_a_busy_default_executor():
    release = threading.Event()

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        blocker = asyncio.ensure_future(asyncio.to_thread(release.wait, 5))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        name = await call_api(lambda: threading.current_thread().name)
        elapsed = time.monotonic() - started
        release.set()
        await blocker
        assert name.startswith("wechat-api")
        return elapsed

    assert asyncio.run(scenario()) < 1.0


def test_async_send_pauses_off_the_event_loop(monkeypatch):
    monkeypatch.setattr(outbound, "RETRY_DELAYS_S", (0.3, 0.3))
    send = Recorder(busy(), busy())
    ticks = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    async def scenario():
        tick = asyncio.ensure_future(ticker())
        failed = await send_in_order_async(send, ["一"])
        tick.cancel()
        return failed

    assert asyncio.run(scenario()) is None and send.sent == ["一"]
    assert len(ticks) > 10 and max(b - a for a, b in zip(ticks, ticks[1:])) < 0.2
