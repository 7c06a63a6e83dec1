"""Proof-of-display records on SQLite and on the real PostgreSQL: what, when, which versions, who."""
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from connectors.logsafe import pseudonym
from quotes.audit import DisplayRecord, DisplayRecorder, mask_user_id
from storage.db import get_engine
from tests.quotes.conftest import PG_URL


def record(quote_id: str, user: str = "oAbCdEfGhIjKlMn123") -> DisplayRecord:
    return DisplayRecord(quote_id=quote_id, product_id="medical_million", clause_version="2026.1",
                         rate_version="2026.1-r1", eligible=True, premium_cny=Decimal("296.00"),
                         payment_mode="annual", user_id=user, channel="wechat",
                         shown_at=dt.datetime(2026, 7, 15, 2, 0, tzinfo=dt.timezone.utc),
                         message="【百万医疗险报价】… 责任免除 …", facts={"age": 35, "product_id": "medical_million"})


def check_roundtrip(recorder: DisplayRecorder) -> None:
    quote_id = "QTEST" + uuid.uuid4().hex[:10].upper()
    user = f"oUser{uuid.uuid4().hex}"
    row_id = recorder.record(record(quote_id, user))
    recorder.record(record(quote_id, user))  # shown twice: two records
    rows = recorder.for_quote(quote_id)
    assert [r["id"] for r in rows][0] == row_id and len(rows) == 2
    row = rows[0]
    assert row["product_id"] == "medical_million" and row["clause_version"] == "2026.1"
    assert row["rate_version"] == "2026.1-r1" and row["premium_cny"] == Decimal("296.00")
    assert row["shown_at"].replace(tzinfo=dt.timezone.utc if row["shown_at"].tzinfo is None else row["shown_at"].tzinfo) \
        == dt.datetime(2026, 7, 15, 2, 0, tzinfo=dt.timezone.utc)
    assert row["user_ref"] == pseudonym(user) and user not in str(row)
    assert row["user_masked"] == mask_user_id(user) and "责任免除" in row["message"]
    assert len(recorder.for_user(user)) == 2


def test_sqlite_records(tmp_path):
    check_roundtrip(DisplayRecorder(get_engine(f"sqlite:///{tmp_path / 'app.db'}")))


def test_postgresql_records():
    engine = get_engine(PG_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError:
        pytest.skip("PostgreSQL at 127.0.0.1:5432 (db test) is not running")
    recorder = DisplayRecorder(engine)
    check_roundtrip(recorder)
    assert engine.dialect.name == "postgresql"


@pytest.mark.parametrize("user,masked", [("oAbCdEfGhIjKlMn123", "oAb***123"), ("short", "***"), ("", "-")])
def test_masking(user, masked):
    assert mask_user_id(user) == masked
