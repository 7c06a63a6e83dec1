"""Helpers shared by the benchmark scripts: percentiles, machine facts, writing JSON + Markdown."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Sequence

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def percentiles(values_ms: Sequence[float]) -> dict:
    arr = np.asarray(values_ms, dtype=np.float64)
    if not len(arr):
        return {"n": 0}
    return {"n": int(len(arr)), "p50": round(float(np.percentile(arr, 50)), 2),
            "p95": round(float(np.percentile(arr, 95)), 2), "p99": round(float(np.percentile(arr, 99)), 2),
            "mean": round(float(arr.mean()), 2), "max": round(float(arr.max()), 2)}


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def write_results(name: str, data: dict, markdown: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"machine": machine(), **data}
    (RESULTS / f"{name}.json").write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    path = RESULTS / f"{name}.md"
    path.write_text(markdown, encoding="utf-8")
    print(f"wrote {RESULTS / (name + '.json')} and {path}")
    return path


def md_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
