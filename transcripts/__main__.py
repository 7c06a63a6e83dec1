"""``python -m transcripts <command>``: see transcripts/cli.py."""
import sys

from transcripts.cli import main

sys.exit(main())
