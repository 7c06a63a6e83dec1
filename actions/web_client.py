"""One HTTP client per event loop for the action server's calls to the web service.

Why shared: creating an `httpx.AsyncClient` builds an SSL context and loads the CA bundle (~15-25 ms
of CPU here) even for plain http, and a new client opens a new TCP connection. A FAQ turn used to pay
that on every knowledge search; one keep-alive client per loop pays it once.
"""
from __future__ import annotations

import asyncio
import os
import weakref

import httpx

_CLIENTS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = weakref.WeakKeyDictionary()


def web_url() -> str:
    """The web service's base URL (WEB_URL, set by common/stack.py for every service)."""
    return os.environ.get("WEB_URL", "http://127.0.0.1:8000").rstrip("/")


def web_client() -> httpx.AsyncClient:
    """The running loop's client (created on first use); pass a `timeout=` with each request."""
    loop = asyncio.get_running_loop()
    client = _CLIENTS.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(limits=httpx.Limits(max_connections=50, max_keepalive_connections=20))
        _CLIENTS[loop] = client
    return client
