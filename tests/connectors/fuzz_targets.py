"""Fuzz targets for the webhook parsers, shared by bench/fuzz_webhooks.py (100k+ inputs) and
tests/connectors/test_fuzz_parsers.py (a few thousand).

Each :class:`Target` pairs a Hypothesis strategy with a function that feeds one input to the real
parsing code (no Rasa, no network) and checks the properties: only the module's documented
rejection errors escape, and nothing forged is processed (the bot is never called, no sync starts).
:func:`fuzz` runs a target for N inputs and collects findings instead of stopping at the first.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import random
import string
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from connectors.config import WeChatConfig, WeComKfConfig
from connectors.crypto import CryptoError, MessageCrypto
from connectors.ledger import TurnLedger
from connectors.messages import InvalidMessage, parse_inbound, plan_for
from connectors.security import (MAX_BODY_BYTES, Rejected, check_timestamp, sha1_signature,
                                 verify_msg_signature, verify_signature)
from connectors.wechat_webhook import WeChatWebhook
from connectors.wecom_api import message_list
from connectors.wecom_kf import WeComKfWebhook, plan_for_kf
from connectors.wxxml import parse_xml
from tests.fakes.wechat_pusher import WxAes, to_xml

TOKEN, APP_ID, ACCOUNT = "fuzz-token-0123456789", "wxfuzz0000000001", "gh_fuzz_account"
AES_KEY = base64.b64encode(hashlib.sha256(b"fuzz-aes").digest()).decode().rstrip("=")
CORP, KF_TOKEN, KFID = "wwfuzz0000000001", "fuzz-kf-token-0123", "wkFUZZ"
KF_AES_KEY = base64.b64encode(hashlib.sha256(b"fuzz-kf-aes").digest()).decode().rstrip("=")
SLOW_INPUT_S = 1.0
MSG_TYPES = ["text", "image", "voice", "video", "shortvideo", "location", "link", "file", "event", "miniprogram"]
EVENTS = ["subscribe", "unsubscribe", "CLICK", "VIEW", "LOCATION", "SCAN", "kf_msg_or_event", "TEMPLATESENDJOBFINISH"]


class Violation(AssertionError):
    """A property broke: something forged was processed, or a rejection had the wrong form."""


# ---- corpus of valid messages ---------------------------------------------------------------------
def _valid_messages() -> List[Dict[str, Any]]:
    base = {"ToUserName": ACCOUNT, "FromUserName": "oFuzzUser0001", "CreateTime": 1700000000}
    return [
        {**base, "MsgType": "text", "Content": "百万医疗险等待期多久", "MsgId": 24000000000000001},
        {**base, "MsgType": "image", "PicUrl": "http://mmbiz.example/p.jpg", "MediaId": "m1", "MsgId": 2},
        {**base, "MsgType": "voice", "MediaId": "m2", "Format": "amr", "Recognition": "你好", "MsgId": 3},
        {**base, "MsgType": "location", "Location_X": 22.543, "Location_Y": 114.058, "Scale": 15,
         "Label": "深圳市南山区", "MsgId": 4},
        {**base, "MsgType": "link", "Title": "标题", "Description": "描述", "Url": "http://e.example/", "MsgId": 5},
        {**base, "MsgType": "event", "Event": "subscribe"},
        {**base, "MsgType": "event", "Event": "CLICK", "EventKey": "MENU_QUOTE"},
        {**base, "MsgType": "event", "Event": "LOCATION", "Latitude": 23.1, "Longitude": 113.2, "Precision": 1},
    ]


VALID_XML = [to_xml(m).encode("utf-8") for m in _valid_messages()]
_AES = WxAes(AES_KEY)
VALID_XML.append(to_xml({"ToUserName": ACCOUNT, "Encrypt": _AES.encrypt(VALID_XML[0].decode(), APP_ID)}).encode())
VALID_XML.append(to_xml({"ToUserName": CORP, "CreateTime": 1700000000, "MsgType": "event",
                         "Event": "kf_msg_or_event", "Token": "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR",
                         "OpenKfId": KFID}).encode())

# ---- strategies ---------------------------------------------------------------------------------
INTERESTING = [b"<", b">", b"&", b"]]>", b"<![CDATA[", b"&#0;", b"&#x1F600;", b"\x00", b"<!DOCTYPE xml [", b"<!ENTITY",
               b"&lt;", b"&amp;", b"\xef\xbb\xbf", b"\xff\xfe", b"\xc3\x28", b"</xml>", b"<xml>", b"<?xml ?>",
               b"<!--", b"-->", b"<?pi x?>", b"\r\n", b"%", b"\xe4\xbd", "等待".encode(), b"9" * 40]

xml_names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.-]{0,20}\Z")
field_text = st.one_of(st.text(max_size=300), st.sampled_from(["", " ", "]]>", "<xml>", "&amp;", "/restart",
                                                              "/ask_quote{\"x\":1}", "nan", "inf", "-1e309"]))
numbers = st.one_of(st.integers(min_value=-2**70, max_value=2**70).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr), field_text,
                    st.text(alphabet="0123456789²³¹٠١٢߀", min_size=1, max_size=15),   # str.isdigit() != int()
                    st.integers(1, 6000).map(lambda n: "9" * n))                      # int() digit limit


@st.composite
def mutated_xml(draw: Any) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID_XML)))
    for _ in range(draw(st.one_of(st.integers(1, 2), st.integers(1, 8)))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup", "token", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data))))
        if op == "flip" and data:
            data[min(pos, len(data) - 1)] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 32))]
        elif op == "dup":
            chunk = bytes(data[pos:pos + draw(st.integers(1, 64))])
            data[pos:pos] = chunk * draw(st.integers(1, 20))
        elif op == "token":
            data[pos:pos] = draw(st.sampled_from(INTERESTING))
        else:
            del data[pos:]
    return bytes(data)


random_bytes = st.one_of(st.binary(max_size=4096),
                         st.tuples(st.sampled_from([b"<xml>", b"<?xml version='1.0'?><xml>", b"<", b""]),
                                   st.binary(max_size=1024)).map(b"".join))


@st.composite
def structured_fields(draw: Any) -> Dict[str, str]:
    """Valid message structure, random values: the fields WeChat sends, plus random extra tags."""
    fields: Dict[str, Any] = {
        "ToUserName": draw(st.one_of(st.just(ACCOUNT), field_text)),
        "FromUserName": draw(st.one_of(st.just("oFuzzUser0001"), field_text)),
        "CreateTime": draw(st.one_of(st.just(str(int(time.time()))), numbers)),
        "MsgType": draw(st.one_of(st.sampled_from(MSG_TYPES), field_text)),
    }
    optional = {"Content": field_text, "MsgId": numbers, "MsgID": numbers, "Event": st.one_of(st.sampled_from(EVENTS), field_text),
                "EventKey": st.one_of(st.sampled_from(["MENU_QUOTE", "MENU_HUMAN", " MENU_CLAIM "]), field_text),
                "Recognition": field_text, "Location_X": numbers, "Location_Y": numbers, "Latitude": numbers,
                "Longitude": numbers, "Label": field_text, "MediaId": field_text, "Token": field_text,
                "OpenKfId": st.one_of(st.just(KFID), field_text)}
    for name in draw(st.lists(st.sampled_from(sorted(optional)), max_size=8, unique=True)):
        fields[name] = draw(optional[name])
    for name in draw(st.lists(xml_names, max_size=3)):
        fields.setdefault(name, draw(field_text))
    return fields


def render(fields: Dict[str, Any], style: str) -> bytes:
    """Fields -> XML as WeChat writes it (CDATA), escaped text, or raw (may be malformed on purpose)."""
    from xml.sax.saxutils import escape

    parts = ["<xml>"]
    for key, value in fields.items():
        text = str(value)
        body = {"cdata": "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>", "escaped": escape(text),
                "raw": text}[style]
        parts.append(f"<{key}>{body}</{key}>")
    parts.append("</xml>")
    return "".join(parts).encode("utf-8", "surrogatepass")


structured_xml = st.tuples(structured_fields(), st.sampled_from(["cdata", "escaped", "raw"])).map(lambda t: render(*t))


DTD_KINDS = {"laughs", "xxe", "param", "external_dtd", "quadratic", "attr_entity"}


@st.composite
def entity_attack_tagged(draw: Any) -> Tuple[str, bytes]:
    """(kind, document): DTDs, entity expansion, external entities, XInclude, deep nesting, odd encodings."""
    kind = draw(st.sampled_from(["laughs", "xxe", "param", "external_dtd", "quadratic", "xinclude", "undefined",
                                 "charref", "deep", "wide", "encoding", "attr_entity"]))
    levels, fan = draw(st.integers(1, 10)), draw(st.integers(2, 10))
    target = draw(st.sampled_from(["file:///etc/passwd", "http://127.0.0.1:1/x", "/dev/urandom", "expect://id"]))
    if kind == "laughs":
        ents = ['<!ENTITY l0 "lol">'] + [f'<!ENTITY l{i} "{"".join(f"&l{i - 1};" for _ in range(fan))}">'
                                         for i in range(1, levels + 1)]
        doc = f'<?xml version="1.0"?><!DOCTYPE xml [{"".join(ents)}]><xml><Content>&l{levels};</Content></xml>'
    elif kind == "xxe":
        doc = f'<!DOCTYPE xml [<!ENTITY x SYSTEM "{target}">]><xml><FromUserName>&x;</FromUserName></xml>'
    elif kind == "param":
        doc = f'<!DOCTYPE xml [<!ENTITY % p SYSTEM "{target}"> %p;]><xml><Content>a</Content></xml>'
    elif kind == "external_dtd":
        doc = f'<!DOCTYPE xml SYSTEM "{target}"><xml><Content>a</Content></xml>'
    elif kind == "quadratic":
        blob = "A" * draw(st.integers(100, 20000))
        refs = "&a;" * draw(st.integers(10, 2000))
        doc = f'<!DOCTYPE xml [<!ENTITY a "{blob}">]><xml><Content>{refs}</Content></xml>'
    elif kind == "xinclude":
        doc = (f'<xml xmlns:xi="http://www.w3.org/2001/XInclude"><Content><xi:include href="{target}" '
               'parse="text"/></Content></xml>')
    elif kind == "undefined":
        doc = "<xml><Content>&" + draw(xml_names) + ";</Content></xml>"
    elif kind == "charref":
        doc = f"<xml><Content>&#{draw(st.integers(0, 0x20FFFF))};&#x{draw(st.integers(0, 0x20FFFF)):x};</Content></xml>"
    elif kind == "deep":
        depth = draw(st.integers(10, 9000))
        doc = "<xml>" + "<a>" * depth + "x" + "</a>" * depth + "</xml>"
    elif kind == "wide":
        doc = "<xml>" + "<a>1</a>" * draw(st.integers(10, 8000)) + "</xml>"
    elif kind == "encoding":
        enc = draw(st.sampled_from(["utf-16", "gbk", "latin-1", "x-evil", "utf-7", "ebcdic", "", "UTF-32"]))
        doc = f'<?xml version="1.0" encoding="{enc}"?><xml><Content>你好</Content></xml>'
        return kind, doc.encode("utf-16" if enc == "utf-16" else "utf-8")
    else:
        doc = '<!DOCTYPE xml [<!ENTITY e "v">]><xml a="&e;"><Content>x</Content></xml>'
    return kind, doc.encode("utf-8")


def entity_attack() -> Any:
    return entity_attack_tagged().map(lambda t: t[1])


oversized = st.tuples(st.integers(MAX_BODY_BYTES + 1, 4 * MAX_BODY_BYTES), st.sampled_from(VALID_XML)).map(
    lambda t: t[1][:-6] + b"<Pad>" + b"x" * t[0] + b"</Pad></xml>")

# ---- the parsers --------------------------------------------------------------------------------
_EXPANDED = ("lol" * 50, "root:", "A" * 30000)


def _parse_checked(body: bytes) -> Tuple[str, Optional[Dict[str, str]]]:
    """parse_xml must answer Rejected (400, or 413 when oversized) or a flat {str: str} dict."""
    try:
        fields = parse_xml(body)
    except Rejected as exc:
        if exc.status not in (400, 413):
            raise Violation(f"Rejected with status {exc.status}") from None
        if (len(body) > MAX_BODY_BYTES) != (exc.status == 413):
            raise Violation("size limit misapplied") from None
        return f"rejected:{exc.status}", None
    if len(body) > MAX_BODY_BYTES:
        raise Violation("oversized body parsed")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
        raise Violation("non-string field")
    return "parsed", fields


def run_parse_xml(body: bytes) -> str:
    return _parse_checked(body)[0]


def run_entities(value: Tuple[str, bytes]) -> str:
    """Documents with a DTD are refused outright; nothing is ever expanded or fetched."""
    kind, body = value
    outcome, fields = _parse_checked(body)
    if fields is not None:
        if kind in DTD_KINDS:
            raise Violation(f"document with a DTD ({kind}) was parsed")
        if any(marker in "".join(fields.values()) for marker in _EXPANDED):
            raise Violation("entity content was expanded")
        _plan(fields)
    return f"{kind}:{outcome}"


def run_message(body: bytes) -> str:
    """parse_xml -> parse_inbound -> plan_for, as the webhook does after authentication."""
    outcome, fields = _parse_checked(body)
    return outcome if fields is None else _plan(fields)


def _plan(fields: Dict[str, str]) -> str:
    try:
        msg = parse_inbound(fields)
    except InvalidMessage:
        return "invalid_message"
    plan = plan_for(msg)
    if plan.rasa_text is not None and plan.rasa_text.startswith("/") and msg.msg_type in ("text", "voice"):
        raise Violation("user text became a Rasa /intent command")
    return f"plan:{plan.kind[:20]}"


# ---- decryption -----------------------------------------------------------------------------------
CRYPTO = MessageCrypto(TOKEN, AES_KEY, APP_ID)
_VALID_CIPHERTEXTS = [_AES.encrypt(x.decode(), APP_ID) for x in VALID_XML[:4]]
_OTHER_ID = [_AES.encrypt(VALID_XML[0].decode(), "wxOTHERAPP000001"),
             WxAes(KF_AES_KEY).encrypt(VALID_XML[0].decode(), APP_ID)]

b64_text = st.text(alphabet=string.ascii_letters + string.digits + "+/= \n-_", max_size=600)
random_ciphertext = st.one_of(
    b64_text,
    st.binary(max_size=512).map(lambda b: base64.b64encode(b).decode()),
    st.integers(1, 16).flatmap(lambda n: st.binary(min_size=32 * n, max_size=32 * n)).map(
        lambda b: base64.b64encode(b).decode()),
)


@st.composite
def mutated_ciphertext(draw: Any) -> Tuple[str, str]:
    raw = bytearray(base64.b64decode(draw(st.sampled_from(_VALID_CIPHERTEXTS + _OTHER_ID))))
    for _ in range(draw(st.integers(1, 4))):
        if not raw:
            break
        pos = draw(st.integers(0, len(raw) - 1))
        op = draw(st.sampled_from(["flip", "truncate", "extend", "swap"]))
        if op == "flip":
            raw[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del raw[pos:]
        elif op == "extend":
            raw += draw(st.binary(min_size=1, max_size=64))
        else:
            block = pos // 16 * 16
            raw[block:block + 16] = bytes(reversed(raw[block:block + 16]))
    return "mutated", base64.b64encode(bytes(raw)).decode()


def run_decrypt(value: Any) -> str:
    """decrypt: CryptoError, or plaintext; random bytes and other AppIds never decrypt."""
    kind, ciphertext = value if isinstance(value, tuple) else ("random", value)
    try:
        plain = CRYPTO.decrypt(ciphertext)
    except CryptoError:
        return "rejected"
    if not isinstance(plain, str):
        raise Violation("decrypt returned a non-string")
    if kind == "random":
        raise Violation("random ciphertext decrypted")
    return "decrypted_after_mutation"     # CBC is malleable: why msg_signature must be checked first


def run_other_receiver(index: int) -> str:
    try:
        CRYPTO.decrypt(_OTHER_ID[index % len(_OTHER_ID)])
    except CryptoError:
        return "rejected"
    raise Violation("ciphertext for another AppId / key accepted")


# ---- signatures -----------------------------------------------------------------------------------
maybe_text = st.one_of(st.none(), st.text(max_size=64), st.from_regex(r"\A[0-9a-f]{40}\Z"))


@st.composite
def signature_inputs(draw: Any) -> Dict[str, Any]:
    now = int(time.time())     # constraints must not depend on the clock: draw an offset
    ts = draw(st.one_of(maybe_text, st.integers(-1000, 1000).map(lambda d: str(now + d)),
                        st.integers(0, 10**13).map(str), st.text(alphabet="0123456789²١", min_size=1, max_size=14)))
    return {"signature": draw(maybe_text), "timestamp": ts, "nonce": draw(maybe_text),
            "encrypted": draw(st.text(max_size=100)), "correct": draw(st.booleans())}


def run_signature(v: Dict[str, Any]) -> str:
    """Only sha1(token, timestamp, nonce[, Encrypt]) passes, and only inside the timestamp window."""
    sig = v["signature"]
    if v["correct"] and v["timestamp"] is not None and v["nonce"] is not None:
        sig = sha1_signature(TOKEN, v["timestamp"], v["nonce"])
    accepted = []
    for check in (lambda: verify_signature(TOKEN, sig, v["timestamp"], v["nonce"]),
                  lambda: verify_msg_signature(TOKEN, sig, v["timestamp"], v["nonce"], v["encrypted"]),
                  lambda: check_timestamp(v["timestamp"])):
        try:
            check()
            accepted.append(True)
        except Rejected as exc:
            if exc.status != 403:
                raise Violation(f"signature rejection with status {exc.status}") from None
            accepted.append(False)
    expected = sig is not None and v["nonce"] and v["timestamp"] and sig == sha1_signature(
        TOKEN, v["timestamp"], v["nonce"]) and accepted[2]
    if accepted[0] != bool(expected):
        raise Violation("signature accepted without the token" if accepted[0] else "valid signature refused")
    if accepted[1] and not v["correct"]:
        raise Violation("msg_signature accepted without the token")
    return "accepted" if accepted[0] else "rejected"


# ---- whole webhooks (authentication + parsing + planning), no Rasa ------------------------------
class MemoryStore:
    """The KeyValueStore protocol in a dict (the fuzzer needs speed, not persistence)."""

    def __init__(self) -> None:
        self.data: Dict[str, Tuple[str, float]] = {}

    def get(self, key: str) -> Optional[str]:
        item = self.data.get(key)
        return item[0] if item and item[1] > time.time() else None

    def set(self, key: str, value: str, ttl_s: float) -> None:
        self.data[key] = (value, time.time() + ttl_s)

    def add(self, key: str, value: str, ttl_s: float) -> bool:
        if self.get(key) is not None:
            return False
        self.set(key, value, ttl_s)
        return True

    def cas(self, key: str, expected: str, new: str, ttl_s: float) -> bool:
        if self.get(key) != expected:
            return False
        self.set(key, new, ttl_s)
        return True

    def delete_if(self, key: str, expected: str) -> bool:
        if self.get(key) != expected:
            return False
        del self.data[key]
        return True

    def close(self) -> None:
        self.data.clear()


class CountingBot:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, text: str, sender_id: str, message_id: str, metadata: Dict[str, Any]) -> List[Dict]:
        self.calls += 1
        return [{"text": "ok"}]


class Harness:
    """One event loop and one webhook of each kind, reused across inputs."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.bot = CountingBot()
        self.hooks = {}
        for mode in ("plain", "safe"):
            cfg = WeChatConfig(token=TOKEN, app_id=APP_ID, app_secret="s",
                               encoding_aes_key=AES_KEY if mode == "safe" else "", passive_deadline_s=0.5)
            self.hooks[mode] = WeChatWebhook(cfg, TurnLedger(MemoryStore()), self.bot)
        kf_cfg = WeComKfConfig(corp_id=CORP, kf_secret="s", token=KF_TOKEN, encoding_aes_key=KF_AES_KEY,
                               open_kfid=KFID)
        self.kf = WeComKfWebhook(kf_cfg, MemoryStore(), self.bot)
        self.kf_syncs: List[str] = []
        self.kf.request_sync = lambda open_kfid, token: self.kf_syncs.append(open_kfid)  # type: ignore[assignment]
        self.kf_aes = WxAes(KF_AES_KEY)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        for hook in self.hooks.values():
            self.run(hook.drain())
        self.loop.close()


_HARNESS: Dict[str, Harness] = {}


def harness() -> Harness:
    if "h" not in _HARNESS:
        _HARNESS["h"] = Harness()
    return _HARNESS["h"]


def _nonce_ts(draw: Any) -> Tuple[str, str]:
    return str(draw(st.integers(0, 10**10))), str(int(time.time()))


@st.composite
def wechat_request(draw: Any) -> Dict[str, Any]:
    """A push to the Official Account webhook: forged (no token) or signed, plain or safe mode."""
    mode = draw(st.sampled_from(["plain", "safe"]))
    forged = draw(st.sampled_from(["none", "none", "random_signature", "wrong_token", "missing", "stale",
                                   "random_ciphertext"]))
    inner = draw(st.one_of(structured_xml, mutated_xml(), st.sampled_from(VALID_XML[:8]), entity_attack()))
    nonce, ts = _nonce_ts(draw)
    if forged == "stale":
        ts = str(int(time.time()) - draw(st.integers(301, 10**6)))
    token = "not-" + TOKEN if forged == "wrong_token" else TOKEN
    query = {"signature": sha1_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce}
    body = inner
    if mode == "safe":
        encrypted = (draw(random_ciphertext) if forged == "random_ciphertext"
                     else _AES.encrypt(inner.decode("utf-8", "replace"), APP_ID))
        query.update(encrypt_type="aes", msg_signature=sha1_signature(token, ts, nonce, encrypted))
        body = to_xml({"ToUserName": ACCOUNT, "Encrypt": encrypted}).encode()
    if forged == "random_signature":
        query["signature"] = draw(st.one_of(st.text(max_size=50), st.from_regex(r"\A[0-9a-f]{40}\Z")))
        query["msg_signature"] = draw(st.from_regex(r"\A[0-9a-f]{40}\Z"))
    elif forged == "missing":
        query.pop(draw(st.sampled_from(sorted(query))))
    if draw(st.booleans()):
        query["openid"] = draw(st.one_of(st.just("oFuzzUser0001"), st.text(max_size=20)))
    return {"mode": mode, "forged": forged, "query": query, "body": body}


def run_wechat(req: Dict[str, Any]) -> str:
    h = harness()
    hook = h.hooks[req["mode"]]
    before = h.bot.calls
    reply = h.run(hook.receive(req["query"], req["body"]))
    h.run(hook.drain())
    kind = req["forged"]
    if req["mode"] == "plain" and kind == "random_ciphertext":
        kind = "none"                      # plain mode has no ciphertext: this push is genuine
    forged = kind not in ("none", "missing") or (kind == "missing" and not _complete(req))
    if reply.status not in (200, 400, 403, 413):
        raise Violation(f"unexpected HTTP status {reply.status}")
    if forged and (reply.status == 200 or h.bot.calls != before):
        raise Violation(f"forged push ({req['forged']}) was processed")
    return f"{req['mode']}:{'forged' if forged else 'signed'}:{reply.status}"


def _complete(req: Dict[str, Any]) -> bool:
    needed = {"signature", "timestamp", "nonce"} | ({"msg_signature"} if req["mode"] == "safe" else set())
    return needed <= set(req["query"])


@st.composite
def kf_request(draw: Any) -> Dict[str, Any]:
    """A WeCom callback (POST) or URL verification (GET): forged or signed, random inner XML."""
    h = harness()
    forged = draw(st.sampled_from(["none", "none", "random_signature", "wrong_token", "stale", "random_ciphertext",
                                   "other_corp"]))
    inner = draw(st.one_of(structured_xml, mutated_xml(), st.just(VALID_XML[-1]), entity_attack()))
    nonce, ts = _nonce_ts(draw)
    if forged == "stale":
        ts = str(int(time.time()) - draw(st.integers(301, 10**6)))
    if forged == "random_ciphertext":
        encrypted = draw(random_ciphertext)
    else:
        encrypted = h.kf_aes.encrypt(inner.decode("utf-8", "replace"), "wwOTHER" if forged == "other_corp" else CORP)
    token = "not-" + KF_TOKEN if forged == "wrong_token" else KF_TOKEN
    query = {"msg_signature": sha1_signature(token, ts, nonce, encrypted), "timestamp": ts, "nonce": nonce}
    if forged == "random_signature":
        query["msg_signature"] = draw(st.from_regex(r"\A[0-9a-f]{40}\Z"))
    verify = draw(st.booleans())
    if verify:
        query["echostr"] = encrypted
    outer = draw(st.sampled_from(["normal", "mutated"]))
    body = to_xml({"ToUserName": CORP, "AgentID": "", "Encrypt": encrypted}).encode()
    if outer == "mutated":
        body = body.replace(b"<AgentID>", draw(st.sampled_from(INTERESTING)) + b"<AgentID>")
    return {"forged": forged, "query": query, "body": body, "verify": verify}


def run_kf(req: Dict[str, Any]) -> str:
    h = harness()
    before_syncs, before_calls = len(h.kf_syncs), h.bot.calls
    if req["verify"]:
        reply = h.run(h.kf.verify(req["query"]))
    else:
        reply = h.run(h.kf.receive(req["query"], req["body"]))
    forged = req["forged"] != "none"
    if reply.status not in (200, 400, 403, 413):
        raise Violation(f"unexpected HTTP status {reply.status}")
    if forged and (reply.status == 200 or len(h.kf_syncs) != before_syncs):
        raise Violation(f"forged kf callback ({req['forged']}) was accepted")
    if h.bot.calls != before_calls:
        raise Violation("a callback reached the bot directly")
    return f"{'verify' if req['verify'] else 'callback'}:{'forged' if forged else 'signed'}:{reply.status}"


# ---- kf sync_msg results (JSON from WeCom) ----------------------------------------------------------
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
                           max_leaves=12)


@st.composite
def kf_messages(draw: Any) -> Dict[str, Any]:
    kind = draw(st.one_of(st.sampled_from(["text", "location", "image", "voice", "link", "miniprogram", "video",
                                           "file", "event", "business_card"]), st.text(max_size=10)))
    msg: Dict[str, Any] = {"msgid": draw(st.one_of(st.text(max_size=20), st.integers())),
                           "open_kfid": draw(st.one_of(st.just(KFID), json_values)),
                           "external_userid": draw(st.one_of(st.just("wmFuzz"), json_values)),
                           "origin": draw(st.one_of(st.sampled_from([3, 4, 5, "3", None]), json_values)),
                           "msgtype": kind}
    msg[kind] = draw(st.one_of(json_values, st.fixed_dictionaries(
        {}, optional={"content": json_values, "latitude": json_values, "longitude": json_values,
                      "name": json_values, "address": json_values, "event_type": st.sampled_from(
                          ["enter_session", "msg_send_fail", "servicer_status_change"]),
                      "welcome_code": json_values, "external_userid": json_values})))
    if kind == "event":
        msg["event"] = msg[kind]
    return {"data": draw(st.one_of(st.fixed_dictionaries({"msg_list": st.lists(st.just(msg), max_size=3)}),
                                   st.dictionaries(st.text(max_size=10), json_values, max_size=3))), "msg": msg}


class _StubKfApi:
    """WeCom's kf API as the sync path uses it, answering at once (state 1 = bot-handled)."""

    def __init__(self) -> None:
        self.sent: List[str] = []

    def service_state(self, open_kfid: str, user: str) -> Tuple[int, str]:
        return 1, ""

    def transfer(self, *args: Any) -> None:
        return None

    def send_text(self, open_kfid: str, user: str, text: str) -> None:
        self.sent.append(text)

    def send_menu(self, open_kfid: str, user: str, menu: Any) -> None:
        self.sent.append(menu.as_text())

    def send_text_on_event(self, code: str, text: str) -> None:
        self.sent.append(text)


def run_kf_message(v: Dict[str, Any]) -> str:
    """message_list + plan_for_kf + the sync handler for one message (stub API, no network)."""
    h = harness()
    items = message_list(v["data"])
    plan = plan_for_kf(v["msg"])
    if plan.rasa_text is not None and plan.rasa_text.startswith("/") and plan.kind == "text":
        raise Violation("kf user text became a Rasa /intent command")
    h.kf.api = _StubKfApi()
    try:
        h.run(h.kf._handle(v["msg"]))
    finally:
        h.kf.api = None
    return f"items:{min(len(items), 3)}:plan:{plan.kind[:20]}"


# ---- running ----------------------------------------------------------------------------------------
@dataclass
class Target:
    name: str
    description: str
    strategy: Any
    run: Callable[[Any], str]
    allowed: Tuple[type, ...] = ()
    share: float = 1.0        # relative number of inputs in the benchmark


TARGETS: List[Target] = [
    Target("xml_random_bytes", "parse_xml on random bytes (some with an <xml> prefix)", random_bytes, run_parse_xml,
           share=1.5),
    Target("xml_mutated", "parse_xml+parse_inbound+plan_for on mutated valid messages/envelopes", mutated_xml(),
           run_message, share=1.5),
    Target("xml_structured", "valid structure, random field values (CDATA/escaped/raw)", structured_xml, run_message,
           share=1.5),
    Target("xml_entities", "DTD, billion laughs, XXE, parameter entities, XInclude, deep/wide trees, encodings",
           entity_attack_tagged(), run_entities, share=0.5),
    Target("xml_oversized", "bodies over 64 KiB", oversized, run_parse_xml, share=0.1),
    Target("decrypt_random", "MessageCrypto.decrypt on random base64 / block-aligned bytes", random_ciphertext,
           run_decrypt),
    Target("decrypt_mutated", "decrypt of bit-flipped/truncated/extended/other-AppId ciphertexts",
           mutated_ciphertext(), run_decrypt),
    Target("decrypt_other_receiver", "ciphertexts for another AppId or key", st.integers(0, 1), run_other_receiver,
           share=0.1),
    Target("signatures", "verify_signature / verify_msg_signature / check_timestamp", signature_inputs(),
           run_signature),
    Target("wechat_webhook", "WeChatWebhook.receive, plain+safe, forged and signed pushes", wechat_request(),
           run_wechat, share=1.2),
    Target("wecom_kf_callback", "WeComKfWebhook.receive/verify, forged and signed callbacks", kf_request(), run_kf,
           share=0.8),
    Target("wecom_kf_messages", "sync_msg results: message_list, plan_for_kf, the per-message handler", kf_messages(),
           run_kf_message, share=0.6),
]


@dataclass
class Result:
    name: str
    inputs: int = 0
    seconds: float = 0.0
    max_ms: float = 0.0
    slow_inputs: int = 0
    outcomes: Counter = field(default_factory=Counter)
    findings: List[Dict[str, str]] = field(default_factory=list)
    finding_count: int = 0

    def as_dict(self) -> Dict[str, Any]:
        return {"inputs": self.inputs, "seconds": round(self.seconds, 2), "max_ms_per_input": round(self.max_ms, 1),
                "slow_inputs": self.slow_inputs, "unexpected": self.finding_count,
                "outcomes": dict(self.outcomes.most_common(12)), "findings": self.findings[:10]}


def fuzz(target: Target, examples: int, rng_seed: Optional[int] = None) -> Result:
    """Feed ``examples`` generated inputs to ``target``; record, never raise, what goes wrong."""
    result = Result(target.name)
    allowed = target.allowed

    @seed(rng_seed if rng_seed is not None else random.getrandbits(64))
    @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @given(target.strategy)
    def one(value: Any) -> None:
        started = time.perf_counter()
        try:
            outcome = target.run(value)
        except allowed as exc:            # the module's documented rejection
            outcome = f"rejected:{type(exc).__name__}"
        except Exception as exc:          # a finding: unexpected exception or broken property
            outcome = "VIOLATION" if isinstance(exc, Violation) else "UNEXPECTED"
            result.finding_count += 1
            if len(result.findings) < 10:
                result.findings.append({"kind": outcome, "error": f"{type(exc).__name__}: {exc}"[:300],
                                        "input": repr(value)[:400],
                                        "where": "".join(traceback.format_tb(exc.__traceback__, limit=-2))[-600:]})
        elapsed = time.perf_counter() - started
        result.inputs += 1
        result.max_ms = max(result.max_ms, elapsed * 1000)
        result.slow_inputs += elapsed > SLOW_INPUT_S
        result.outcomes[outcome] += 1

    quiet = logging.getLogger("connectors")       # every rejection logs a warning: keep the output readable
    level, quiet.level = quiet.level, logging.CRITICAL + 1
    started = time.perf_counter()
    try:
        one()
    finally:
        result.seconds = time.perf_counter() - started
        quiet.setLevel(level)
    return result
