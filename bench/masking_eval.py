"""Span-level precision/recall of common/masking.detect on the hand-written set, plus a leak check.

A detected span counts when its kind and its exact text equal a listed span of the sample (the
listed text is the truth; boundaries matter). The leak check asks a weaker, safety question of both
renderings: does any listed value survive in clear (the span itself, or 6 of its digits in a row)?
Writes bench/results/masking.json + masking.md. Stdlib + PyYAML; runs in about a second.
"""
from __future__ import annotations

import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_utils import md_table, write_results  # noqa: E402
from common.masking import KINDS, detect, mask_text, normalize, redact_text  # noqa: E402

SAMPLES = Path(__file__).resolve().parent / "data" / "masking_samples.yml"


def load_samples(path: Path = SAMPLES) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["samples"]


def gold_spans(sample: dict[str, Any]) -> list[tuple[str, str]]:
    return [(kind, text) for kind, texts in (sample.get("pii") or {}).items() for text in texts]


def leaks(sample: dict[str, Any], rendered: str) -> list[tuple[str, str]]:
    """Listed values still readable in ``rendered``: the whole span, or 6 of its digits in one run of digits."""
    out = []
    runs_out = re.findall(r"\d+", normalize(rendered))
    for kind, text in gold_spans(sample):
        digits = re.sub(r"\D", "", normalize(text))
        windows = {digits[i:i + 6] for i in range(len(digits) - 5)}
        if text in rendered or normalize(text) in normalize(rendered) or any(w in run for w in windows for run in runs_out):
            out.append((kind, text))
    return out


def evaluate(samples: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
    samples = samples if samples is not None else load_samples()
    tp, fp, fn = Counter(), Counter(), Counter()
    errors, leaked, changed_negatives = [], [], []
    t0 = time.perf_counter()
    for sample in samples:
        gold = Counter(gold_spans(sample))
        found = Counter((s.kind, s.text) for s in detect(sample["text"]))
        for key in gold | found:
            hit = min(gold[key], found[key])
            tp[key[0]] += hit
            fn[key[0]] += gold[key] - hit
            fp[key[0]] += found[key] - hit
            if gold[key] != found[key]:
                errors.append({"id": sample["id"], "kind": key[0], "text": key[1],
                               "error": "missed" if gold[key] > found[key] else "false positive"})
        for name, rendered in (("mask_text", mask_text(sample["text"])), ("redact_text", redact_text(sample["text"]))):
            for kind, text in leaks(sample, rendered):
                leaked.append({"id": sample["id"], "rendering": name, "kind": kind, "text": text})
        if not gold and mask_text(sample["text"]) != sample["text"]:
            changed_negatives.append(sample["id"])
    elapsed_ms = (time.perf_counter() - t0) * 1000
    per_kind = {kind: _prf(tp[kind], fp[kind], fn[kind]) for kind in KINDS}
    overall = _prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    result = {"samples": len(samples), "negatives": sum(1 for s in samples if not gold_spans(s)),
              "spans": sum(len(gold_spans(s)) for s in samples), "overall": overall, "per_kind": per_kind,
              "leaks": leaked, "negatives_changed": changed_negatives, "errors": errors,
              "ms_per_sample": round(elapsed_ms / max(1, len(samples)), 3)}
    splits = sorted({s.get("split", "dev") for s in samples})
    if len(splits) > 1:
        result["splits"] = {}
        for split in splits:
            part = evaluate([s for s in samples if s.get("split", "dev") == split])
            result["splits"][split] = {"samples": part["samples"], "spans": part["spans"], **part["overall"],
                                       "leaks": len(part["leaks"])}
    return result


def _prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0}


def markdown(result: dict[str, Any]) -> str:
    rows = [[kind, r["tp"] + r["fn"], r["tp"], r["fp"], r["fn"], f"{r['precision']:.3f}", f"{r['recall']:.3f}"]
            for kind, r in result["per_kind"].items()]
    o = result["overall"]
    rows.append(["**overall**", o["tp"] + o["fn"], o["tp"], o["fp"], o["fn"], f"**{o['precision']:.3f}**",
                 f"**{o['recall']:.3f}**"])
    lines = [
        "# Masking: span-level precision and recall",
        "",
        f"{result['samples']} hand-written samples (bench/data/masking_samples.yml), {result['spans']} personal-data "
        f"spans, {result['negatives']} samples with none (hard negatives). A detection counts only with the "
        "right kind and the exact text.",
        "",
        md_table(["kind", "spans", "TP", "FP", "FN", "precision", "recall"], rows),
        "",
        f"Leaks (a listed value readable after masking, in `mask_text` or `redact_text`): **{len(result['leaks'])}**. "
        f"Hard negatives changed by `mask_text`: **{len(result['negatives_changed'])}**. "
        f"Detection time: {result['ms_per_sample']} ms per sample.",
    ]
    if result.get("splits"):
        lines += ["", "By split (`dev`: written first, before the detectors; `heldout`: written after them, "
                  "scored once before further changes, see docs/masking_audit.md):", "",
                  md_table(["split", "samples", "spans", "precision", "recall", "leaks"],
                           [[name, r["samples"], r["spans"], f"{r['precision']:.3f}", f"{r['recall']:.3f}", r["leaks"]]
                            for name, r in result["splits"].items()])]
    if result["errors"]:
        lines += ["", "Remaining errors:", "",
                  md_table(["sample", "kind", "text", "error"],
                           [[e["id"], e["kind"], e["text"], e["error"]] for e in result["errors"]])]
    return "\n".join(lines) + "\n"


def main() -> int:
    result = evaluate()
    write_results("masking", result, markdown(result))
    o = result["overall"]
    print(f"precision {o['precision']:.3f} recall {o['recall']:.3f} leaks {len(result['leaks'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
