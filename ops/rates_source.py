"""The published rate tables for the quote service (quotes.rates.PublishedRateTables pulls through this).

Lives here, not in quotes/, so the quote library keeps no knowledge of the ops database: it gets a
plain `fetch()` callable. Until the database holds a published version (the web service seeds it on
first start), `fetch()` answers None and the quote service keeps the rate files it loaded.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from ops.documents import RATES_PREFIX
from ops.store import KbStore

RateFetch = Callable[[], Optional[tuple[tuple, dict[str, str]]]]


def published_rate_fetcher(engine: Engine, content_dir: Path) -> RateFetch:
    store = KbStore(engine, content_dir)
    seen_tables = False

    def fetch() -> Optional[tuple[tuple, dict[str, str]]]:
        nonlocal seen_tables
        if not seen_tables:  # the web service creates the tables on its first start
            if not inspect(engine).has_table("kb_pointers"):
                return None
            seen_tables = True
        version_id = store.published_version_id()
        if version_id is None:
            return None
        manifest = store.manifest(version_id)
        key = tuple(sorted((k, h) for k, h in manifest.items() if k.startswith(RATES_PREFIX)))
        if not key:
            return None
        return key, store.rate_texts(version_id)

    return fetch
