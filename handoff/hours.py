"""Service hours of the human agents (products.yml `service.human_agent_hours`, Beijing time).

`now` is always passed in (an injectable clock), so tests and the benchmark can be "in hours"
at any time of day.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Optional

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
DEFAULT_SPEC = "09:00-22:00"
_RANGE = re.compile(r"(\d{1,2}):(\d{2})\s*[-–~至到]\s*(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class ServiceHours:
    """Daily opening window [start, end) in Beijing time; end 24:00 = midnight; start == end = never open."""

    start_min: int = 9 * 60
    end_min: int = 22 * 60

    @classmethod
    def parse(cls, spec: str) -> "ServiceHours":
        """'09:00-22:00' (anything around it is ignored, e.g. '每天 09:00-22:00（北京时间）')."""
        match = _RANGE.search(spec or "")
        if not match:
            raise ValueError(f"no HH:MM-HH:MM range in {spec!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if not (0 <= start <= 24 * 60 and 0 <= end <= 24 * 60 and m1 < 60 and m2 < 60):
            raise ValueError(f"bad time range {spec!r}")
        return cls(start, end)

    @classmethod
    def from_catalogue(cls, products_yml: Path, override: str = "") -> "ServiceHours":
        """The override (setting HANDOFF_SERVICE_HOURS) wins; else products.yml; else 09:00-22:00."""
        if override:
            return cls.parse(override)
        try:
            import yaml

            data = yaml.safe_load(Path(products_yml).read_text(encoding="utf-8")) or {}
            return cls.parse(str((data.get("service") or {}).get("human_agent_hours", DEFAULT_SPEC)))
        except (OSError, ValueError, ImportError):
            return cls.parse(DEFAULT_SPEC)

    @property
    def always(self) -> bool:
        return self.start_min == 0 and self.end_min == 24 * 60

    def label(self) -> str:
        return f"{_hhmm(self.start_min)}-{_hhmm(self.end_min)}"

    def is_open(self, now: datetime) -> bool:
        minute = _local_minute(now)
        if self.start_min == self.end_min:
            return False
        if self.start_min < self.end_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min      # window across midnight

    def next_open(self, now: datetime) -> Optional[datetime]:
        """When agents are next on duty (Beijing time); `now` itself when open; None if never."""
        if self.is_open(now):
            return now.astimezone(BEIJING)
        if self.start_min == self.end_min:
            return None
        local = now.astimezone(BEIJING)
        opening = datetime.combine(local.date(), time(self.start_min // 60, self.start_min % 60), BEIJING)
        return opening if opening > local else opening + timedelta(days=1)

    def describe_next_open(self, now: datetime) -> str:
        """'今天09:00' / '明天09:00' / '3月5日09:00' for messages to users."""
        when = self.next_open(now)
        if when is None:
            return "另行通知"
        local_now = now.astimezone(BEIJING).date()
        day = (when.date() - local_now).days
        prefix = {0: "今天", 1: "明天"}.get(day, f"{when.month}月{when.day}日")
        return f"{prefix}{when:%H:%M}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _local_minute(now: datetime) -> int:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(BEIJING)
    return local.hour * 60 + local.minute
