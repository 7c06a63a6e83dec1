"""WeChat's side of the webhook: builds, signs, encrypts and pushes messages like WeChat does.

The AES framing and signatures are implemented here independently of ``connectors.crypto``
(``cryptography`` primitives, no wechatpy), so a symmetric bug in the connector cannot hide.
Pushes follow WeChat's retry rule: wait ``timeout`` seconds for an answer, then retry the same
message, three attempts in all.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import os
import secrets
import struct
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_msg_ids = itertools.count(int(time.time() * 1000) % 10**12 * 1000)


def sign(*parts: str) -> str:
    """sha1 of the sorted parts, concatenated (WeChat's signature scheme)."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def new_aes_key() -> str:
    """A random 43-character EncodingAESKey (as the WeChat admin console generates)."""
    return base64.b64encode(os.urandom(32)).decode().rstrip("=")


class WxAes:
    """WeChat's message encryption: AES-256-CBC, IV = key[:16], PKCS#7 padded to 32 bytes."""

    def __init__(self, encoding_aes_key: str) -> None:
        self.key = base64.b64decode(encoding_aes_key + "=")
        assert len(self.key) == 32

    def encrypt(self, plaintext: str, receive_id: str, random16: Optional[bytes] = None) -> str:
        data = (random16 or os.urandom(16)) + struct.pack(">I", len(plaintext.encode())) \
            + plaintext.encode() + receive_id.encode()
        pad = 32 - len(data) % 32
        data += bytes([pad]) * pad
        enc = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(enc.update(data) + enc.finalize()).decode()

    def decrypt(self, ciphertext: str) -> Tuple[str, str]:
        """(plaintext, receive_id); AssertionError on a malformed message."""
        dec = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        data = dec.update(base64.b64decode(ciphertext)) + dec.finalize()
        pad = data[-1]
        assert 1 <= pad <= 32 and data[-pad:] == bytes([pad]) * pad, "bad padding"
        data = data[16:-pad]
        (length,) = struct.unpack(">I", data[:4])
        return data[4:4 + length].decode(), data[4 + length:].decode()


def to_xml(fields: Dict[str, Any]) -> str:
    parts = ["<xml>"]
    for key, value in fields.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(f"<{key}>{value}</{key}>")
        else:
            parts.append(f"<{key}><![CDATA[{value}]]></{key}>")
    parts.append("</xml>")
    return "".join(parts)


def from_xml(text: str) -> Dict[str, str]:
    root = ET.fromstring(text)
    return {child.tag: (child.text or "") for child in root}


@dataclass
class Attempt:
    status: Optional[int]          # None: WeChat gave up waiting (timeout)
    body: str
    elapsed: float


@dataclass
class PushResult:
    attempts: List[Attempt] = field(default_factory=list)
    reply: Optional[Dict[str, str]] = None     # decrypted passive reply as WeChat shows it

    @property
    def final(self) -> Attempt:
        return self.attempts[-1]

    @property
    def reply_text(self) -> Optional[str]:
        return self.reply.get("Content") if self.reply else None


class WeChatPusher:
    """Plays WeChat's servers pushing to an Official Account webhook."""

    def __init__(self, url: str, token: str, app_id: str, *, aes_key: Optional[str] = None,
                 mode: str = "plain", account: str = "gh_insurebot", platform: Any = None) -> None:
        assert mode in ("plain", "compatible", "safe")
        assert mode == "plain" or aes_key
        self.url = url
        self.token = token
        self.app_id = app_id
        self.aes = WxAes(aes_key) if aes_key else None
        self.mode = mode
        self.account = account
        self.platform = platform
        self.client = httpx.Client(timeout=10.0)

    def close(self) -> None:
        self.client.close()

    # ---- messages ------------------------------------------------------------------------
    def _base(self, openid: str, msg_type: str) -> Dict[str, Any]:
        return {"ToUserName": self.account, "FromUserName": openid,
                "CreateTime": int(time.time()), "MsgType": msg_type}

    def text(self, openid: str, content: str, msg_id: Optional[int] = None) -> Dict[str, Any]:
        return {**self._base(openid, "text"), "Content": content, "MsgId": msg_id or next(_msg_ids)}

    def menu_tap(self, openid: str, menu_id: str, content: str) -> Dict[str, Any]:
        """The user taps an option of a menu message: WeChat pushes a text with ``<bizmsgmenuid>``."""
        return {**self.text(openid, content), "bizmsgmenuid": menu_id}

    def voice(self, openid: str, recognition: Optional[str]) -> Dict[str, Any]:
        fields = {**self._base(openid, "voice"), "MediaId": "media_" + secrets.token_hex(4),
                  "Format": "amr", "MsgId": next(_msg_ids)}
        if recognition is not None:
            fields["Recognition"] = recognition
        return fields

    def location(self, openid: str, lat: float, lon: float, label: str = "") -> Dict[str, Any]:
        return {**self._base(openid, "location"), "Location_X": lat, "Location_Y": lon,
                "Scale": 15, "Label": label, "MsgId": next(_msg_ids)}

    def image(self, openid: str) -> Dict[str, Any]:
        return {**self._base(openid, "image"), "PicUrl": "http://mmbiz.example/pic.jpg",
                "MediaId": "media_" + secrets.token_hex(4), "MsgId": next(_msg_ids)}

    def link(self, openid: str) -> Dict[str, Any]:
        return {**self._base(openid, "link"), "Title": "标题", "Description": "描述",
                "Url": "http://example.com/", "MsgId": next(_msg_ids)}

    def event(self, openid: str, event: str, key: str = "") -> Dict[str, Any]:
        fields = {**self._base(openid, "event"), "Event": event}
        if key:
            fields["EventKey"] = key
        return fields

    # ---- signing and encryption ------------------------------------------------------------
    def build(self, fields: Dict[str, Any], *, timestamp: Optional[int] = None,
              nonce: Optional[str] = None, receive_id: Optional[str] = None,
              body_override: Optional[bytes] = None) -> Tuple[Dict[str, str], bytes]:
        """(query parameters, body) exactly as WeChat would send them."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or str(secrets.randbelow(10**10))
        params = {"signature": sign(self.token, ts, nonce), "timestamp": ts, "nonce": nonce,
                  "openid": str(fields.get("FromUserName", ""))}
        plain = to_xml(fields)
        if self.mode == "plain":
            return params, body_override if body_override is not None else plain.encode()
        assert self.aes is not None
        encrypted = self.aes.encrypt(plain, receive_id or self.app_id)
        envelope: Dict[str, Any] = {"ToUserName": self.account, "Encrypt": encrypted}
        if self.mode == "compatible":
            envelope = {**fields, "Encrypt": encrypted}
        params.update(encrypt_type="aes", msg_signature=sign(self.token, ts, nonce, encrypted))
        return params, body_override if body_override is not None else to_xml(envelope).encode()

    def decode_reply(self, body: str) -> Optional[Dict[str, str]]:
        """What the user would see from a passive reply; None for "success"/empty.

        Encrypted replies are checked like WeChat does: MsgSignature, then decryption and AppId.
        """
        if body in ("", "success"):
            return None
        outer = from_xml(body)
        if "Encrypt" not in outer:
            assert self.mode != "safe", "plain reply in safe mode"
            return outer
        assert self.aes is not None
        expected = sign(self.token, outer["TimeStamp"], outer["Nonce"], outer["Encrypt"])
        assert expected == outer["MsgSignature"], "bad MsgSignature on the reply"
        plain, receive_id = self.aes.decrypt(outer["Encrypt"])
        assert receive_id == self.app_id, "reply encrypted for another AppId"
        return from_xml(plain)

    # ---- HTTP ------------------------------------------------------------------------------
    def post_raw(self, params: Dict[str, str], body: bytes, timeout: float = 5.0) -> Attempt:
        started = time.monotonic()
        try:
            resp = self.client.post(self.url, params=params, content=body, timeout=timeout,
                                    headers={"Content-Type": "text/xml"})
        except httpx.TimeoutException:
            return Attempt(None, "", time.monotonic() - started)
        return Attempt(resp.status_code, resp.text, time.monotonic() - started)

    def push(self, fields: Dict[str, Any], *, timeouts: Sequence[float] = (5.0, 5.0, 5.0),
             lost: int = 0, **build_kwargs: Any) -> PushResult:
        """Deliver like WeChat: up to three attempts, the next one when an answer is overdue.

        ``timeouts`` gives how long WeChat waits on each attempt (5 s in production). ``lost``
        responses are dropped on the way back: WeChat then waits out the timeout and retries,
        so retries come 5 s apart as in production.
        """
        if self.platform is not None and fields.get("MsgType") != "event":
            self.platform.user_interacted(str(fields["FromUserName"]))
        if self.platform is not None and fields.get("Event") in ("subscribe", "CLICK"):
            self.platform.user_interacted(str(fields["FromUserName"]))
        result = PushResult()
        for index, timeout in enumerate(timeouts):
            params, body = self.build(fields, **build_kwargs)
            attempt = self.post_raw(params, body, timeout)
            result.attempts.append(attempt)
            if index < lost:
                attempt.status, attempt.body = None, ""       # the response never reached WeChat
                time.sleep(max(0.0, timeout - attempt.elapsed))
                continue
            if attempt.status is not None:
                if attempt.status == 200:
                    result.reply = self.decode_reply(attempt.body)
                break
        return result

    def verify_url(self, echostr: str = "", *, token: Optional[str] = None,
                   timestamp: Optional[int] = None) -> httpx.Response:
        """The GET WeChat sends when the webhook URL is saved in the admin console."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = str(secrets.randbelow(10**10))
        echostr = echostr or secrets.token_hex(8)
        params = {"signature": sign(token or self.token, ts, nonce), "timestamp": ts,
                  "nonce": nonce, "echostr": echostr}
        return self.client.get(self.url, params=params)


class WeComCallbackPusher:
    """Plays WeCom pushing encrypted callbacks (URL verification, kf_msg_or_event)."""

    def __init__(self, url: str, token: str, aes_key: str, corp_id: str) -> None:
        self.url = url
        self.token = token
        self.aes = WxAes(aes_key)
        self.corp_id = corp_id
        self.client = httpx.Client(timeout=10.0)

    def close(self) -> None:
        self.client.close()

    def verify_url(self, echo_plain: str, *, receive_id: Optional[str] = None,
                   token: Optional[str] = None) -> httpx.Response:
        ts, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
        echostr = self.aes.encrypt(echo_plain, receive_id or self.corp_id)
        params = {"msg_signature": sign(token or self.token, ts, nonce, echostr),
                  "timestamp": ts, "nonce": nonce, "echostr": echostr}
        return self.client.get(self.url, params=params)

    def build_kf_event(self, open_kfid: str, callback_token: str, *,
                       receive_id: Optional[str] = None, timestamp: Optional[int] = None
                       ) -> Tuple[Dict[str, str], bytes]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = str(secrets.randbelow(10**10))
        inner = to_xml({"ToUserName": self.corp_id, "CreateTime": int(ts), "MsgType": "event",
                        "Event": "kf_msg_or_event", "Token": callback_token, "OpenKfId": open_kfid})
        encrypted = self.aes.encrypt(inner, receive_id or self.corp_id)
        body = to_xml({"ToUserName": self.corp_id, "AgentID": "", "Encrypt": encrypted}).encode()
        params = {"msg_signature": sign(self.token, ts, nonce, encrypted), "timestamp": ts, "nonce": nonce}
        return params, body

    def kf_event(self, open_kfid: str, callback_token: str, **kwargs: Any) -> httpx.Response:
        params, body = self.build_kf_event(open_kfid, callback_token, **kwargs)
        return self.client.post(self.url, params=params, content=body)
