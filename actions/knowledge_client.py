"""Client for the web service's knowledge search API (the one process that holds the index)."""
from __future__ import annotations

import os
from typing import Any, Optional

import httpx

SEARCH_TIMEOUT_S = 4.0


class KnowledgeUnavailable(RuntimeError):
    """The knowledge service did not answer (down, starting, or timed out)."""


def _base_url() -> str:
    return os.environ.get("WEB_URL", "http://127.0.0.1:8000").rstrip("/")


async def search_knowledge(query: str, context_product: Optional[str] = None, top_k: int = 3) -> dict[str, Any]:
    payload = {"query": query, "top_k": top_k, "context_product": context_product}
    try:
        async with httpx.AsyncClient(timeout=SEARCH_TIMEOUT_S) as client:
            resp = await client.post(f"{_base_url()}/api/knowledge/search", json=payload)
    except httpx.HTTPError as exc:
        raise KnowledgeUnavailable(type(exc).__name__) from exc
    if resp.status_code != 200:
        raise KnowledgeUnavailable(f"HTTP {resp.status_code}")
    return resp.json()
