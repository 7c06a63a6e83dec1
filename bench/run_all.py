"""`make bench`: every benchmark script in turn; each writes bench/results/<name>.json + <name>.md.

BENCH_SIZES (default 10000,100000) sets the synthetic corpus sizes of the retrieval scaling table.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PY = sys.executable

BENCHES = [
    ["resolution.py"],        # answer / clarify / refuse quality, cross-validated, with the baselines
    ["quote_understanding.py"],  # one-message quote requests: extraction vs the previous parser, the conversation
    ["retrieval.py", "--sizes", os.environ.get("BENCH_SIZES", "10000,100000")],
    ["search_latency.py"],    # warm single-query latency, both encoder backends
    ["nlu_cv.py"],
    ["memory.py"],
    ["fuzz_webhooks.py"],     # 120k inputs to the webhook parsers (~10-30 min on 2 cores)
    ["masking_eval.py"],
]
OPTIONAL = ["wechat_webhook.py", "handoff.py", "hot_reload.py", "webhook_load.py"]


def main() -> int:
    failed = []
    runs = BENCHES + [[name] for name in OPTIONAL if (ROOT / name).exists()]
    for args in runs:
        print(f"== bench {args[0]}", flush=True)
        if subprocess.run([PY, str(ROOT / args[0]), *args[1:]], cwd=ROOT.parent).returncode != 0:
            failed.append(args[0])
    print("failed: " + ", ".join(failed) if failed else "all benchmarks finished; see bench/results/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
