"""Service hours from products.yml, with an injected clock."""
from datetime import datetime, timezone

import pytest

from common.settings import REPO_ROOT
from handoff.hours import BEIJING, ServiceHours


def bj(h, m=0, day=10):
    return datetime(2025, 3, day, h, m, tzinfo=BEIJING)


def test_catalogue_hours_are_9_to_22_beijing():
    hours = ServiceHours.from_catalogue(REPO_ROOT / "knowledge" / "content" / "products.yml")
    assert hours.label() == "09:00-22:00"
    assert not hours.is_open(bj(8, 59)) and hours.is_open(bj(9, 0)) and hours.is_open(bj(21, 59))
    assert not hours.is_open(bj(22, 0))
    # 13:30 UTC = 21:30 Beijing (open); 14:30 UTC = 22:30 Beijing (closed)
    assert hours.is_open(datetime(2025, 3, 10, 13, 30, tzinfo=timezone.utc))
    assert not hours.is_open(datetime(2025, 3, 10, 14, 30, tzinfo=timezone.utc))


def test_next_opening_is_described_for_users():
    hours = ServiceHours.parse("每天 09:00-22:00（北京时间）")
    assert hours.describe_next_open(bj(23, 15)) == "明天09:00"
    assert hours.describe_next_open(bj(6, 0)) == "今天09:00"
    assert hours.next_open(bj(10, 0)) == bj(10, 0)


def test_override_windows():
    always = ServiceHours.from_catalogue(REPO_ROOT / "missing.yml", "00:00-24:00")
    assert always.always and always.is_open(bj(3)) and always.is_open(bj(23, 59))
    never = ServiceHours.parse("00:00-00:00")
    assert not never.is_open(bj(12)) and never.next_open(bj(12)) is None
    night = ServiceHours.parse("22:00-06:00")
    assert night.is_open(bj(23)) and night.is_open(bj(5)) and not night.is_open(bj(12))
    assert ServiceHours.from_catalogue(REPO_ROOT / "missing.yml").label() == "09:00-22:00"
    with pytest.raises(ValueError):
        ServiceHours.parse("always")
    with pytest.raises(ValueError):
        hours = ServiceHours.parse("09:00-22:00")
        hours.is_open(datetime(2025, 1, 1, 12))        # naive datetimes are refused
