"""Pseudonyms of a user id (a WeChat OpenID / Rasa sender id), one per place that stores it.

Transcripts, legal holds, erasures and audit records keep only :func:`subject_of` (128 bits of
SHA-256, so two users never collide in practice); the other helpers reproduce the pseudonyms that
other features already store, so a hold or an erasure can find those rows too.
"""
from __future__ import annotations

import hashlib

from connectors.logsafe import pseudonym


def subject_of(sender_id: str) -> str:
    """The subject key of a user in transcripts, holds, erasures and the audit log."""
    return hashlib.sha256(("insurebot-subject:" + (sender_id or "")).encode("utf-8")).hexdigest()[:32]


def unanswered_ref(sender_id: str) -> str:
    """``ops.unanswered.sender_hash`` (kb_unanswered.sender_hash); kept equal by a test."""
    return hashlib.sha256(("unanswered:" + sender_id).encode("utf-8")).hexdigest()[:16] if sender_id else ""


def quote_ref(sender_id: str) -> str:
    """``quote_displays.user_ref`` (quotes/audit.py uses connectors.logsafe.pseudonym)."""
    return pseudonym(sender_id)


def masked_user(sender_id: str) -> str:
    """A user id for people reading the console: ``oAbc****wxYZ`` (short ids fully starred)."""
    sender_id = sender_id or ""
    if len(sender_id) <= 8:
        return "*" * len(sender_id)
    return sender_id[:4] + "****" + sender_id[-4:]


def looks_like_subject(value: str) -> bool:
    """True for a 32-hex subject key (what the console shows instead of user ids)."""
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)
