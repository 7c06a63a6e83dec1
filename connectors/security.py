"""Request authentication for WeChat callbacks: SHA-1 signatures, freshness, size limits.

wechatpy's ``check_signature`` compares with ``!=`` and ignores the timestamp; these helpers use
:func:`hmac.compare_digest` and reject stale or future timestamps (replay window).
"""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Optional

MAX_BODY_BYTES = 64 * 1024
MAX_TIMESTAMP_SKEW_S = 300


def ascii_int(text: Optional[str], max_digits: int) -> Optional[int]:
    """``text`` as an int when it is 1..max_digits ASCII digits, else None.

    ``str.isdigit()`` accepts '²' or '١' and ``int()`` refuses long strings: neither may reach ``int()``.
    """
    if not text or len(text) > max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)


class Rejected(Exception):
    """The request must be refused with ``status``; ``reason`` is logged, never sent to the caller."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sha1_signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 over the lexicographically sorted parts, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_matches(expected: str, given: Optional[str]) -> bool:
    """Constant-time comparison of two hex signatures (case-insensitive, as WeChat sends lower case)."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode("ascii"), given.strip().lower().encode("ascii", "replace"))


def check_timestamp(timestamp: Optional[str], *, now: Optional[float] = None,
                    max_skew_s: int = MAX_TIMESTAMP_SKEW_S) -> int:
    """Return the timestamp as int, or raise :class:`Rejected` (403) when missing or outside the window."""
    value = ascii_int(timestamp, 12)
    if value is None:
        raise Rejected(403, "missing or malformed timestamp")
    current = time.time() if now is None else now
    if abs(current - value) > max_skew_s:
        raise Rejected(403, "stale or future timestamp")
    return value


def verify_signature(token: str, signature: Optional[str], timestamp: Optional[str],
                     nonce: Optional[str], *, now: Optional[float] = None,
                     max_skew_s: int = MAX_TIMESTAMP_SKEW_S) -> None:
    """Check the origin signature sha1(token, timestamp, nonce) and the timestamp window."""
    if not nonce or not signature or not timestamp:
        raise Rejected(403, "missing signature parameters")
    if not signature_matches(sha1_signature(token, timestamp, nonce), signature):
        raise Rejected(403, "bad signature")
    check_timestamp(timestamp, now=now, max_skew_s=max_skew_s)


def verify_msg_signature(token: str, msg_signature: Optional[str], timestamp: Optional[str],
                         nonce: Optional[str], encrypted: str, *, now: Optional[float] = None,
                         max_skew_s: int = MAX_TIMESTAMP_SKEW_S) -> None:
    """Check msg_signature = sha1(token, timestamp, nonce, Encrypt): proves the ciphertext's origin."""
    if not nonce or not msg_signature or not timestamp:
        raise Rejected(403, "missing msg_signature parameters")
    if not signature_matches(sha1_signature(token, timestamp, nonce, encrypted), msg_signature):
        raise Rejected(403, "bad msg_signature")
    check_timestamp(timestamp, now=now, max_skew_s=max_skew_s)


def check_body_size(body: bytes, content_length: Optional[str] = None) -> None:
    """Refuse bodies over :data:`MAX_BODY_BYTES` (413) before any parsing."""
    declared = ascii_int(content_length, 20)
    if declared is not None and declared > MAX_BODY_BYTES:
        raise Rejected(413, "body too large (content-length)")
    if len(body) > MAX_BODY_BYTES:
        raise Rejected(413, "body too large")
