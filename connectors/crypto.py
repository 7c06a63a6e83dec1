"""AES message encryption shared by the Official Account (safe/compatible mode) and WeCom.

Uses wechatpy's ``PrpCrypto`` (AES-256-CBC, IV = key[:16], PKCS#7 to 32 bytes, plaintext =
16 random bytes + 4-byte big-endian length + XML + receive id) and adds what it lacks: a CSPRNG
for the random prefix, strict padding/length checks and one exception type for every failure.
"""
from __future__ import annotations

import base64
import binascii
import secrets
import string
from typing import Optional

from wechatpy.crypto import PrpCrypto

from connectors.security import sha1_signature
from connectors.wxxml import render_encrypted_envelope

_ALPHABET = string.ascii_letters + string.digits


class CryptoError(Exception):
    """Ciphertext that cannot be decrypted, or that belongs to another AppId / CorpId."""


class _SecurePrpCrypto(PrpCrypto):
    def get_random_string(self) -> str:  # wechatpy uses random.sample (not a CSPRNG)
        return "".join(secrets.choice(_ALPHABET) for _ in range(16))


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """EncodingAESKey (43 base64 chars) -> the 32-byte AES key; ValueError when malformed."""
    if len(encoding_aes_key) != 43:
        raise ValueError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("EncodingAESKey is not base64") from exc
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


class MessageCrypto:
    """Encrypt/decrypt for one account: ``receive_id`` is the AppId (公众号) or the CorpId (企业微信)."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self.token = token
        self.key = decode_aes_key(encoding_aes_key)
        self.receive_id = receive_id

    def decrypt(self, encrypted: str) -> str:
        """Base64 ciphertext -> plaintext XML; raises :class:`CryptoError` on any defect."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("ciphertext is not base64") from None
        if not raw or len(raw) % 32:
            raise CryptoError("ciphertext length is not a multiple of the block size")
        # check padding and framing ourselves: wechatpy slices without validating
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad padding")
        body = plain[16:-pad]
        if len(body) < 4:
            raise CryptoError("truncated plaintext")
        length = int.from_bytes(body[:4], "big")
        if length > len(body) - 4:
            raise CryptoError("bad length prefix")
        try:
            xml = body[4:4 + length].decode("utf-8")
            from_id = body[4 + length:].decode("utf-8")
        except UnicodeDecodeError:
            raise CryptoError("plaintext is not UTF-8") from None
        if from_id != self.receive_id:
            raise CryptoError("ciphertext for another AppId/CorpId")
        return xml

    def encrypt(self, plaintext: str) -> str:
        """Plaintext -> base64 ciphertext (wechatpy's framing, CSPRNG prefix)."""
        return _SecurePrpCrypto(self.key).encrypt(plaintext, self.receive_id).decode("ascii")

    def encrypt_reply(self, reply_xml: str, nonce: str, timestamp: Optional[str] = None) -> str:
        """Passive reply in safe mode: the encrypted envelope with its MsgSignature."""
        import time

        ts = timestamp or str(int(time.time()))
        encrypted = self.encrypt(reply_xml)
        signature = sha1_signature(self.token, ts, nonce, encrypted)
        return render_encrypted_envelope(encrypted, signature, ts, nonce)
