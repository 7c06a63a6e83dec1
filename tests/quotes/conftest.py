"""Fixtures for the quote tests: the real content (products.yml, rate tables, clauses), a fixed
clock inside the typhoon sale window, and a real SQLite (or PostgreSQL) display recorder."""
from __future__ import annotations

import datetime as dt

import pytest

from common.settings import REPO_ROOT

CONTENT_DIR = REPO_ROOT / "knowledge" / "content"
RATES_DIR = CONTENT_DIR / "rates"
# explicit driver: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed (psycopg2 is)
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
# 2026-07-15 10:00 Beijing time: inside the typhoon sale window (6/1-10/31)
SUMMER = dt.datetime(2026, 7, 15, 2, 0, tzinfo=dt.timezone.utc)
WINTER = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.timezone.utc)


class Clock:
    """An injectable 'now' the test can move."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(scope="session")
def catalogue():
    from quotes.catalogue import load_catalogue

    return load_catalogue(CONTENT_DIR / "products.yml")


@pytest.fixture(scope="session")
def rate_tables(catalogue):
    from quotes.rates import load_rate_tables

    return load_rate_tables(RATES_DIR, catalogue)


@pytest.fixture(scope="session")
def clause_facts(catalogue):
    from quotes.clauses import load_all_clause_facts

    return load_all_clause_facts(CONTENT_DIR / "clauses", {pid: catalogue.get(pid).raw for pid in catalogue.ids()})


@pytest.fixture(scope="session")
def aliases():
    from knowledge.vocabulary import load_vocabulary

    return load_vocabulary(CONTENT_DIR).product_aliases


@pytest.fixture
def clock():
    return Clock(SUMMER)


@pytest.fixture
def recorder(tmp_path):
    from quotes.audit import DisplayRecorder
    from storage.db import get_engine

    return DisplayRecorder(get_engine(f"sqlite:///{tmp_path / 'app.db'}"))


@pytest.fixture
def service(catalogue, rate_tables, clause_facts, clock, recorder):
    from quotes.service import QuoteService

    return QuoteService(catalogue, rate_tables, clause_facts, clock=clock, recorder=recorder)


@pytest.fixture
def runtime_service(service, aliases):
    """The action server's process-wide service, swapped for the test one."""
    from quotes import runtime

    runtime.use_service(service, aliases)
    yield service
    runtime.use_service(None)
