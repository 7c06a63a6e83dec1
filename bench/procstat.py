"""Per-service resource readings from /proc: process-group members, RSS and CPU time.

A service may fork workers (the action server's Sanic does), so each reading covers the service's
whole process group (every service is started in its own session by common/stack.py).
"""
from __future__ import annotations

import os
from typing import Dict, List

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> List[bytes]:
    """The fields of /proc/<pid>/stat after the command name (field 3, ``state``, first)."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        stat = fh.read()
    return stat[stat.rindex(b")") + 2:].split()


def pgrp_members(pgid: int) -> List[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if int(_stat_fields(int(entry))[2]) == pgid:          # state, ppid, pgrp
                pids.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def descendants(pid: int) -> List[int]:
    """``pid`` and every process below it (by parent pid), for services that do not own a group."""
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(_stat_fields(int(entry))[1]), []).append(int(entry))   # ppid
            except (OSError, ValueError, IndexError):
                continue
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one live process so far."""
    try:
        fields = _stat_fields(pid)
        return (int(fields[11]) + int(fields[12])) / _TICKS       # utime, stime (fields 14, 15)
    except (OSError, ValueError, IndexError):
        return 0.0


def group_cpu_seconds(groups: Dict[str, int]) -> Dict[str, float]:
    """CPU seconds per named process group (``{"rasa": pgid, ...}``), plus this process as ``loadgen``."""
    readings = {name: sum(cpu_seconds(p) for p in pgrp_members(pgid)) for name, pgid in groups.items()}
    readings["loadgen"] = cpu_seconds(os.getpid())
    return readings
