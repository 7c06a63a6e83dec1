"""NLU 5-fold cross-validation of the shipped pipeline (config.yml) -> bench/results/nlu_cv.json + .md."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_utils import md_table, write_results  # noqa: E402

OUT = ROOT / "var" / "nlu-cv"


def main() -> None:
    started = time.perf_counter()
    subprocess.run([str(ROOT / ".venv-rasa/bin/rasa"), "test", "nlu", "--nlu", "bot/data", "--config",
                    "config.yml", "--cross-validation", "--folds", "5", "--out", str(OUT)], check=True, cwd=ROOT,
                   env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"})
    report = json.loads((OUT / "intent_report.json").read_text(encoding="utf-8"))
    intents = {k: v for k, v in report.items() if isinstance(v, dict) and "f1-score" in v
               and k not in ("micro avg", "macro avg", "weighted avg")}
    data = {"folds": 5, "seconds": round(time.perf_counter() - started, 1),
            "accuracy": report.get("accuracy"), "macro_f1": report["macro avg"]["f1-score"],
            "weighted_f1": report["weighted avg"]["f1-score"],
            "per_intent": {k: {"f1": round(v["f1-score"], 4), "precision": round(v["precision"], 4),
                               "recall": round(v["recall"], 4), "support": v["support"]} for k, v in intents.items()}}
    rows = [[k, v["f1"], v["precision"], v["recall"], v["support"]] for k, v in sorted(data["per_intent"].items())]
    md = ["# NLU intent classification, 5-fold cross-validation", "",
          f"Pipeline: config.yml (char n-grams over jieba tokens + e5 sentence vectors + DIET); data: all NLU examples in bot/data. Macro F1 **{data['macro_f1']:.4f}**, weighted F1 "
          f"{data['weighted_f1']:.4f}, accuracy {data['accuracy']:.4f}; {data['seconds']} s.", "",
          md_table(["intent", "F1", "precision", "recall", "examples"], rows)]
    write_results("nlu_cv", data, "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
