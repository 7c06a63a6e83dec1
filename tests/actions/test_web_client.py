"""The action server's shared HTTP client: one per event loop, reused, replaced when closed."""
import asyncio

from actions.web_client import web_client, web_url


def test_one_client_per_loop_reused_and_replaced_when_closed():
    async def twice():
        first, second = web_client(), web_client()
        assert first is second
        await first.aclose()
        third = web_client()
        assert third is not first and not third.is_closed
        await third.aclose()
        return first

    a = asyncio.run(twice())
    b = asyncio.run(twice())        # a new loop gets its own client, never the old loop's
    assert a is not b


def test_web_url_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("WEB_URL", "http://10.0.0.5:8100/")
    assert web_url() == "http://10.0.0.5:8100"
