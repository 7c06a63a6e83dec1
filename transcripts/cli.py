"""Command line for operators: ``python -m transcripts <command>`` (run with .venv-app/bin/python).

  status                      active key, rows per key id, holds, retention settings
  rotate [--batch N]          re-encrypt every row to the active key (idempotent, resumable)
  purge                       delete records older than the retention period now (holds respected)
  hold set USER_ID --reason R put a user on legal hold          hold clear USER_ID|SUBJECT
  hold list                   the holds (subject keys and masked ids only)
  erase USER_ID               erase one user's data everywhere (refused while on hold)
  show USER_ID                print a user's decrypted transcript (audited; for access requests)

Settings come from the environment (common/settings.py). Every change is audited as ``cli:<os user>``.
Output is JSON, one object per command.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any, List, Optional

from ops import audit
from ops.audit import SystemActor


def _actor() -> SystemActor:
    try:
        user = getpass.getuser()
    except Exception:      # no passwd entry in some containers
        user = "unknown"
    return SystemActor(username=f"cli:{user}"[:64], role="cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m transcripts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status")
    rotate = sub.add_parser("rotate")
    rotate.add_argument("--batch", type=int, default=500)
    sub.add_parser("purge")
    hold = sub.add_parser("hold")
    hold_sub = hold.add_subparsers(dest="hold_command", required=True)
    hold_set = hold_sub.add_parser("set")
    hold_set.add_argument("user_id")
    hold_set.add_argument("--reason", required=True)
    hold_clear = hold_sub.add_parser("clear")
    hold_clear.add_argument("ref", help="the user id or the subject key shown by `hold list`")
    hold_sub.add_parser("list")
    erase = sub.add_parser("erase")
    erase.add_argument("user_id")
    show = sub.add_parser("show")
    show.add_argument("user_id")
    return parser


def run(argv: Optional[List[str]] = None) -> dict:
    """Execute one command and return its result (``main`` prints it)."""
    from common.settings import load_settings
    from storage.db import get_engine
    from transcripts import holds, retention, tracker_events
    from transcripts.crypto import KeyRing
    from transcripts.erasure import erase_user
    from transcripts.store import TranscriptStore
    from transcripts.subjects import subject_of
    from transcripts.tables import ensure_tables

    args = _parser().parse_args(argv)
    settings = load_settings()
    engine = get_engine(settings.app_database_url)
    ensure_tables(engine, with_audit=True)
    actor = _actor()

    def store() -> TranscriptStore:
        return TranscriptStore(engine, KeyRing.from_settings(settings))

    if args.command == "status":
        ring = KeyRing.from_settings(settings)
        return {"active_key": ring.active_id, "configured_keys": ring.key_ids,
                "rows_per_key": store().key_usage(), "holds": len(holds.list_holds(engine)),
                "retention_days": settings.transcript_retention_days,
                "quote_display_retention_days": settings.quote_display_retention_days}
    if args.command == "rotate":
        s = store()
        report = s.rotate(batch_size=max(1, args.batch),
                          on_batch=lambda done, failed: print(json.dumps({"rotated": done, "failed": failed}),
                                                              file=sys.stderr))
        result = report.as_dict()
        tracker = tracker_events.tracker_engine(settings.tracker_store_url)
        if tracker is not None:       # Rasa's tracker store rows are sealed with the same keys
            result["tracker_events"] = tracker_events.reseal(tracker, KeyRing.from_settings(settings),
                                                             batch=max(1, args.batch))
        audit.record(engine, actor, "transcripts.rotate", f"key:{report.active_key}", result)
        return result
    if args.command == "purge":
        return retention.purge(engine, tracker_events.tracker_engine(settings.tracker_store_url),
                               retention_days=settings.transcript_retention_days,
                               quote_retention_days=settings.quote_display_retention_days, actor=actor)
    if args.command == "hold":
        if args.hold_command == "set":
            return holds.set_hold(engine, args.user_id, args.reason, actor).as_dict()
        if args.hold_command == "clear":
            return {"cleared": holds.clear_hold(engine, args.ref, actor)}
        return {"holds": [h.as_dict() for h in holds.list_holds(engine)]}
    if args.command == "erase":
        result = erase_user(engine, tracker_events.tracker_engine(settings.tracker_store_url), args.user_id,
                            actor=actor, source="cli")
        return {"subject": result.subject, "held": result.held, "counts": result.counts}
    if args.command == "show":
        turns = store().read(args.user_id)
        audit.record(engine, actor, "transcripts.read", f"subject:{subject_of(args.user_id)}", {"turns": len(turns)})
        return {"subject": subject_of(args.user_id), "turns": turns}
    raise AssertionError(args.command)   # argparse only lets known commands through


def main(argv: Optional[List[str]] = None) -> int:
    from common.logging_setup import configure_logging

    configure_logging("WARNING")
    try:
        result: Any = run(argv)
    except ValueError as exc:          # bad keys or input: a message, not a traceback
        print(json.dumps({"error": str(exc)}, ensure_ascii=False), file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False, indent=1, default=str))
    return 0
