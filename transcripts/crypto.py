"""SM4-GCM encryption of transcript text under named keys that come only from the environment.

Why SM4-GCM: SM4 is the national-standard block cipher our regulator expects; GCM makes it an AEAD,
so a modified ciphertext, a ciphertext moved to another row, or a wrong key is detected on reading
(``cryptography`` supports SM4 in GCM mode; checked on both venvs). A token carries its key id:

    sm4gcm1.<key id>.<base64url(nonce 12 bytes | ciphertext | tag 16 bytes)>

``TRANSCRIPT_KEYS="k2:<32 hex>,k1:<32 hex>"``: the first key encrypts, every listed key decrypts,
so a new key goes first and the old ones stay listed until ``python -m transcripts rotate`` has
re-encrypted every row. Without keys, development uses a fixed, publicly derivable key
(id ``dev-only``, a warning is logged); any other INSUREBOT_ENV refuses to start.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Tuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

log = logging.getLogger(__name__)

PREFIX = "sm4gcm1"
DEV_KEY_ID = "dev-only"
# derived, not random: every development process (Rasa, actions, web, CLI) must agree without configuration
DEV_KEY = hashlib.sha256(b"insurebot transcripts dev-only key - not a secret").digest()[:16]
NONCE_BYTES, TAG_BYTES, KEY_BYTES = 12, 16, 16
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_warned_dev = False


class _NonceSource:
    """Random GCM nonces, drawn from the OS in batches.

    ``os.urandom`` is a system call that gives up the GIL; in Rasa's event loop, which seals every
    tracker event, waiting to get the GIL back cost ~4 % of the loop's time (py-spy, 10 WeChat users).
    One call now serves 256 nonces. The nonces stay uniformly random (96 bits, as before); a forked
    child never reuses its parent's batch (the buffer belongs to one process id).
    """

    BATCH = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0
        self._pid = 0

    def take(self) -> bytes:
        with self._lock:
            if self._pid != os.getpid() or self._offset + NONCE_BYTES > len(self._buffer):
                self._buffer, self._offset, self._pid = os.urandom(NONCE_BYTES * self.BATCH), 0, os.getpid()
            nonce = self._buffer[self._offset:self._offset + NONCE_BYTES]
            self._offset += NONCE_BYTES
            return nonce


_nonces = _NonceSource()


class KeyConfigError(ValueError):
    """TRANSCRIPT_KEYS is malformed, or missing outside development. The message never shows key material."""


class DecryptionError(ValueError):
    """The token was modified, belongs to another row, or its key is not configured."""


def parse_keys(value: str) -> List[Tuple[str, bytes]]:
    """``"k2:<32 hex>,k1:<32 hex>"`` -> [(id, 16-byte key), ...] in the given order (first = active)."""
    keys: List[Tuple[str, bytes]] = []
    for n, part in enumerate(p.strip() for p in (value or "").split(",")):
        if not part:
            continue
        key_id, sep, hex_key = part.partition(":")
        key_id, hex_key = key_id.strip(), hex_key.strip()
        if not sep or not _KEY_ID.match(key_id):
            raise KeyConfigError(f"TRANSCRIPT_KEYS entry {n + 1}: expected <id>:<32 hex digits>, id of [A-Za-z0-9_-]")
        if key_id == DEV_KEY_ID:
            raise KeyConfigError(f"TRANSCRIPT_KEYS: the key id '{DEV_KEY_ID}' is reserved for the development key")
        try:
            raw = binascii.unhexlify(hex_key)
        except (binascii.Error, ValueError):
            raise KeyConfigError(f"TRANSCRIPT_KEYS key '{key_id}' is not hexadecimal") from None
        if len(raw) != KEY_BYTES:
            raise KeyConfigError(f"TRANSCRIPT_KEYS key '{key_id}' must be 32 hex digits (128-bit SM4 key)")
        if any(k == key_id for k, _ in keys):
            raise KeyConfigError(f"TRANSCRIPT_KEYS lists the key id '{key_id}' twice")
        keys.append((key_id, raw))
    return keys


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id_of(token: str) -> str:
    """The key id recorded in a token ('' when it is not a token of ours)."""
    parts = (token or "").split(".", 2)
    return parts[1] if len(parts) == 3 and parts[0] == PREFIX else ""


@dataclass(frozen=True)
class KeyRing:
    """The active key plus every key that may still decrypt (the development key always may:
    it is public, so rows under it are only obscured, and rotation must be able to move them)."""

    active_id: str
    keys: Mapping[str, bytes] = field(repr=False)

    @property
    def is_dev(self) -> bool:
        return self.active_id == DEV_KEY_ID

    @property
    def key_ids(self) -> List[str]:
        return list(self.keys)

    @classmethod
    def from_value(cls, value: str) -> "KeyRing":
        parsed = parse_keys(value)
        if not parsed:
            raise KeyConfigError("TRANSCRIPT_KEYS is empty")
        keys: Dict[str, bytes] = dict(parsed)
        keys.setdefault(DEV_KEY_ID, DEV_KEY)
        return cls(parsed[0][0], keys)

    @classmethod
    def development(cls) -> "KeyRing":
        return cls(DEV_KEY_ID, {DEV_KEY_ID: DEV_KEY})

    @classmethod
    def from_settings(cls, settings: Any) -> "KeyRing":
        """The configured keys; the development key only when INSUREBOT_ENV=development (else refuse)."""
        global _warned_dev
        if settings.transcript_keys:
            return cls.from_value(settings.transcript_keys)
        if str(settings.env).strip().lower() != "development":
            raise KeyConfigError("refusing to start: TRANSCRIPT_KEYS is not set and INSUREBOT_ENV is "
                                 f"'{settings.env}' (the development key is only allowed in development); "
                                 "see docs/privacy.md")
        if not _warned_dev:
            _warned_dev = True
            log.warning("transcripts are encrypted with the public development key: set TRANSCRIPT_KEYS",
                        extra={"event": "transcripts.dev_key", "key_id": DEV_KEY_ID})
        return cls.development()

    def encrypt(self, plaintext: str, aad: bytes) -> str:
        """A fresh random nonce per call; ``aad`` (not stored) must be given again to decrypt."""
        nonce = _nonces.take()
        enc = Cipher(algorithms.SM4(self.keys[self.active_id]), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(self._aad(self.active_id, aad))
        body = enc.update(plaintext.encode("utf-8")) + enc.finalize()
        return f"{PREFIX}.{self.active_id}.{_b64(nonce + body + enc.tag)}"

    def decrypt(self, token: str, aad: bytes) -> str:
        key_id = key_id_of(token)
        key = self.keys.get(key_id)
        if key is None:
            raise DecryptionError(f"unknown key id '{key_id}'" if key_id else "not a transcript token")
        try:
            raw = _unb64(token.split(".", 2)[2])
        except (binascii.Error, ValueError):
            raise DecryptionError("token is not valid base64") from None
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError("token too short")
        nonce, body, tag = raw[:NONCE_BYTES], raw[NONCE_BYTES:-TAG_BYTES], raw[-TAG_BYTES:]
        dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(self._aad(key_id, aad))
        try:
            plain = dec.update(body) + dec.finalize()
        except InvalidTag:
            raise DecryptionError("authentication failed: modified, moved or wrong key") from None
        return plain.decode("utf-8")

    @staticmethod
    def _aad(key_id: str, aad: bytes) -> bytes:
        return PREFIX.encode() + b"\x1f" + key_id.encode() + b"\x1f" + aad
