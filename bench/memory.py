"""Idle memory of the three services together (RSS of each process tree) -> bench/results/memory.json + .md."""
from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_utils import md_table, write_results  # noqa: E402
from bench.procstat import descendants, rss_mb  # noqa: E402
from common.settings import load_settings  # noqa: E402
from common.stack import start_stack, wait_healthy  # noqa: E402


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants, from /proc."""
    return sum(rss_mb(p) for p in descendants(pid))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({"INSUREBOT_VAR_DIR": tmp, "EMBEDDING_CACHE": str(ROOT / "var/cache/embeddings.sqlite"),
                                  "RASA_PORT": "35005", "ACTION_PORT": "35055", "WEB_PORT": "38000",
                                  "RASA_URL": "http://127.0.0.1:35005", "WEB_URL": "http://127.0.0.1:38000",
                                  "ACTION_SERVER_URL": "http://127.0.0.1:35055/webhook"})
        stack = start_stack(settings, log_sink=io.StringIO())
        try:
            wait_healthy(settings)
            import urllib.request, json  # noqa: E401
            for text in ("你好", "百万医疗险等待期多久", "理赔要什么材料"):  # warm every path once
                req = urllib.request.Request(f"{settings.rasa_url}/webhooks/rest/webhook",
                                             data=json.dumps({"sender": "mem", "message": text}).encode())
                urllib.request.urlopen(req, timeout=60).read()
            time.sleep(15)
            per = {s.name: round(tree_rss_mb(s.process.pid), 1) for s in stack.services}
        finally:
            stack.stop()
    total = round(sum(per.values()), 1)
    data = {"idle_rss_mb": per, "total_mb": total, "target_mb": 3072}
    md = ["# Idle memory (RSS, after one warm-up conversation, 15 s idle)", "",
          md_table(["service", "RSS MB"], [[k, v] for k, v in per.items()] + [["**total**", f"**{total}**"]]), "",
          f"Target: < 3072 MB. {'OK' if total < 3072 else 'OVER'}"]
    write_results("memory", data, "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
