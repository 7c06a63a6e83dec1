"""Process-wide QuoteService for the action server, built lazily on first use (never at import).

rasa-sdk imports every actions module at start-up; building here instead keeps start-up fast and
lets tests swap the service (`use_service`) for one with a fixed clock and a temporary database.
"""
from __future__ import annotations

import threading
from typing import Mapping, Optional, Sequence

from quotes.service import QuoteService, business_date_of

_lock = threading.Lock()
_service: Optional[QuoteService] = None
_aliases: Optional[Mapping[str, Sequence[str]]] = None


def get_service() -> QuoteService:
    """The service for this process: content from settings.knowledge_dir, display records in the app DB."""
    global _service
    if _service is None:
        with _lock:
            if _service is None:
                from common.settings import load_settings
                from quotes.audit import DisplayRecorder
                from storage.db import get_engine

                settings = load_settings()
                from ops.rates_source import published_rate_fetcher

                engine = get_engine(settings.app_database_url)
                recorder = DisplayRecorder(engine)
                _service = QuoteService.from_content_dir(  # rate tables: the version published in the ops console
                    settings.knowledge_dir, recorder=recorder,
                    rate_source=published_rate_fetcher(engine, settings.knowledge_dir),
                    business_date=business_date_of(settings.quote_business_date))
    return _service


def get_product_aliases() -> Mapping[str, Sequence[str]]:
    """Product names users type (knowledge/content/vocabulary.yml, shared with the knowledge search)."""
    global _aliases
    if _aliases is None:
        with _lock:
            if _aliases is None:
                from common.settings import load_settings
                from knowledge.vocabulary import load_vocabulary

                _aliases = load_vocabulary(load_settings().knowledge_dir).product_aliases
    return _aliases


def use_service(service: Optional[QuoteService], aliases: Optional[Mapping[str, Sequence[str]]] = None) -> None:
    """Replace (or with None, reset) the process-wide service; for tests and embedding."""
    global _service, _aliases
    with _lock:
        _service = service
        _aliases = aliases
