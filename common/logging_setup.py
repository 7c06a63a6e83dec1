"""Structured (key=value) logging for every process, with personal data masked on the way out.

Callers should not log personal data at all; masking here is the net under that rule. It masks the
message, its arguments, every structured field (``extra=``) and exception text, with
:func:`common.masking.mask_text` (138****5678, 我叫张**), so a log line still says which case it was.
"""
from __future__ import annotations

import json
import logging

from common.masking import mask_text, mask_value

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_MASKED = "_pii_masked"   # set on a record once masked: filters and formatters may both see it


def _mask_message(record: logging.LogRecord) -> None:
    """Message, args, exception and stack text (all a record has when it is created)."""
    if isinstance(record.msg, str):
        record.msg = mask_text(record.msg)
    if isinstance(record.args, dict):
        record.args = mask_value(record.args)
    elif isinstance(record.args, tuple):
        record.args = tuple(mask_value(a) if isinstance(a, (str, dict, list, tuple)) else a for a in record.args)
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask ``record`` in place (idempotent): message, args, extra fields, exception and stack text."""
    if getattr(record, _MASKED, False):
        return record
    _mask_message(record)
    for key, value in list(vars(record).items()):
        if key not in _RESERVED and not key.startswith("_") and isinstance(value, (str, dict, list, tuple)):
            setattr(record, key, mask_value(value))
    setattr(record, _MASKED, True)
    return record


class MaskingFilter(logging.Filter):
    """Handler filter: every record that reaches the handler is masked first (never dropped)."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


class KeyValueFormatter(logging.Formatter):
    """`time level logger event=... key=value` lines: readable in a terminal, greppable in files.

    It masks too, so a handler that only sets this formatter (connectors/rasa_glue.py) is covered.
    """

    def format(self, record: logging.LogRecord) -> str:
        mask_record(record)
        base = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {record.getMessage()}"
        extras = {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}
        if extras:
            base += " " + " ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in extras.items())
        if record.exc_info or record.exc_text:
            base += "\n" + (record.exc_text or self.formatException(record.exc_info))
        return base


def install_record_masking() -> None:
    """Mask message, args and exception text as each record is created, whatever handlers exist later.

    For processes whose handlers a framework creates after start-up (the rasa-sdk action server, see
    scripts/run_actions.py); its format prints only the message, which this covers. Idempotent.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "masks_personal_data", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _mask_message(record)
        return record

    factory.masks_personal_data = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, KeyValueFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    handler.addFilter(MaskingFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
