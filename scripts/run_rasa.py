"""`rasa ...` with this project's run-time fixes installed first (connectors/rasa_speedups.py).

common/stack.py starts Rasa through this script (make run, systemd units, tests, benchmarks), so
every Rasa process gets the same fixes. Arguments are Rasa's own: `run_rasa.py run --port 5005 ...`.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> None:
    from connectors.rasa_speedups import install
    from rasa.__main__ import main as rasa_main

    install()
    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
