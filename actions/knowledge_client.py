"""Client for the web service's knowledge search API (the one process that holds the index)."""
from __future__ import annotations

from typing import Any, Optional

import httpx

from actions.web_client import web_client, web_url

SEARCH_TIMEOUT_S = 4.0


class KnowledgeUnavailable(RuntimeError):
    """The knowledge service did not answer (down, starting, or timed out)."""


async def search_knowledge(query: str, context_product: Optional[str] = None, top_k: int = 3,
                           previous_query: Optional[str] = None) -> dict[str, Any]:
    payload = {"query": query, "top_k": top_k, "context_product": context_product, "previous_query": previous_query}
    try:
        resp = await web_client().post(f"{web_url()}/api/knowledge/search", json=payload, timeout=SEARCH_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise KnowledgeUnavailable(type(exc).__name__) from exc
    if resp.status_code != 200:
        raise KnowledgeUnavailable(f"HTTP {resp.status_code}")
    return resp.json()
