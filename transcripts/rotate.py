"""``python -m transcripts.rotate [--batch N]``: re-encrypt every transcript row to the active key.

The same as ``python -m transcripts rotate``; kept as its own module for runbooks that name it.
"""
from __future__ import annotations

import sys

from transcripts.cli import main

if __name__ == "__main__":
    sys.exit(main(["rotate", *sys.argv[1:]]))
