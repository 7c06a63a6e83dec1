"""Signatures, timestamps, safe XML parsing and AES framing (the pure protocol layer)."""
from __future__ import annotations

import base64
import time

import pytest

from connectors.crypto import CryptoError, MessageCrypto, decode_aes_key
from connectors.security import (MAX_BODY_BYTES, Rejected, check_body_size, sha1_signature,
                                  signature_matches, verify_msg_signature, verify_signature)
from connectors.wxxml import cdata, parse_xml, render_text_reply
from tests.fakes.wechat_pusher import WxAes, new_aes_key, sign

TOKEN = "QDG6eK"


def test_signature_matches_independent_implementation():
    ts, nonce = "1409659589", "263014780"
    assert sha1_signature(TOKEN, ts, nonce) == sign(nonce, TOKEN, ts)
    assert signature_matches(sign(TOKEN, ts, nonce), sign(TOKEN, ts, nonce).upper())
    assert not signature_matches(sign(TOKEN, ts, nonce), None)
    assert not signature_matches(sign(TOKEN, ts, nonce), "0" * 40)
    assert not signature_matches(sign(TOKEN, ts, nonce), "签名")


def test_verify_signature_rejects_forged_stale_and_future():
    now = int(time.time())
    ts = str(now)
    verify_signature(TOKEN, sign(TOKEN, ts, "n1"), ts, "n1")
    with pytest.raises(Rejected) as forged:
        verify_signature(TOKEN, sign("other-token", ts, "n1"), ts, "n1")
    assert forged.value.status == 403
    for skew in (-301, 301, -86400):
        old = str(now + skew)
        with pytest.raises(Rejected) as stale:
            verify_signature(TOKEN, sign(TOKEN, old, "n1"), old, "n1")
        assert stale.value.status == 403
    for bad in ("", "abc", "1" * 13):
        with pytest.raises(Rejected):
            verify_signature(TOKEN, sign(TOKEN, bad, "n1"), bad, "n1")
    with pytest.raises(Rejected):
        verify_signature(TOKEN, sign(TOKEN, ts, ""), ts, "")


def test_msg_signature_covers_the_ciphertext():
    ts = str(int(time.time()))
    verify_msg_signature(TOKEN, sign(TOKEN, ts, "n", "CIPHER"), ts, "n", "CIPHER")
    with pytest.raises(Rejected):
        # the plain origin signature is not a msg_signature
        verify_msg_signature(TOKEN, sign(TOKEN, ts, "n"), ts, "n", "CIPHER")
    with pytest.raises(Rejected):
        verify_msg_signature(TOKEN, sign(TOKEN, ts, "n", "CIPHER"), ts, "n", "OTHER")


def test_body_size_limit():
    check_body_size(b"x" * MAX_BODY_BYTES)
    with pytest.raises(Rejected) as big:
        check_body_size(b"x" * (MAX_BODY_BYTES + 1))
    assert big.value.status == 413
    with pytest.raises(Rejected):
        check_body_size(b"", content_length=str(10 * MAX_BODY_BYTES))


def test_parse_xml_flat_fields_and_cdata():
    fields = parse_xml("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><CreateTime>1</CreateTime>"
                       "<Content><![CDATA[你好 <b>]]></Content><ScanCodeInfo><ScanType>qrcode</ScanType>"
                       "</ScanCodeInfo></xml>".encode())
    assert fields == {"ToUserName": "gh_1", "CreateTime": "1", "Content": "你好 <b>",
                      "ScanCodeInfo.ScanType": "qrcode"}


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><Content>&lol3;</Content></xml>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><Content>&xxe;</Content></xml>"""
DTD_ONLY = b"""<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:1/evil.dtd"><xml/>"""


@pytest.mark.parametrize("body", [BOMB, XXE, DTD_ONLY, b"<xml><a></xml>", b"not xml", b"",
                                  b"<notxml/>", b"\xff\xfe<\x00x\x00"])
def test_parse_xml_refuses_hostile_or_malformed(body):
    with pytest.raises(Rejected) as err:
        parse_xml(body)
    assert err.value.status == 400


def test_cdata_cannot_be_broken_out_of():
    reply = render_text_reply("o1", "gh", "a]]><evil/>b", create_time=5)
    assert parse_xml(reply.encode())["Content"] == "a]]><evil/>b"
    assert cdata("x") == "<![CDATA[x]]>"


def test_wecom_official_vector():
    """The sample from WeCom's callback documentation (corpid wx5823bf96d3bd56c7)."""
    crypto = MessageCrypto(TOKEN, "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7")
    echostr = ("P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==")
    assert sha1_signature(TOKEN, "1409659589", "263014780", echostr) == "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
    assert crypto.decrypt(echostr) == "1616140317555161061"


def test_aes_interoperates_with_independent_implementation():
    key = new_aes_key()
    ours, theirs = MessageCrypto("t", key, "wxapp"), WxAes(key)
    for text in ("<xml>你好</xml>", "x" * 1000, ""):
        assert ours.decrypt(theirs.encrypt(text, "wxapp")) == text
        assert theirs.decrypt(ours.encrypt(text)) == (text, "wxapp")
    # the 16-byte prefix is random: same plaintext, different ciphertexts
    assert ours.encrypt("same") != ours.encrypt("same")


def test_aes_rejects_other_appid_and_garbage():
    key = new_aes_key()
    ours, theirs = MessageCrypto("t", key, "wxapp"), WxAes(key)
    with pytest.raises(CryptoError, match="another"):
        ours.decrypt(theirs.encrypt("<xml/>", "wxOTHER"))
    with pytest.raises(CryptoError):
        MessageCrypto("t", new_aes_key(), "wxapp").decrypt(theirs.encrypt("<xml/>", "wxapp"))
    for garbage in ("", "!!!", base64.b64encode(b"x" * 31).decode(), base64.b64encode(b"\0" * 64).decode()):
        with pytest.raises(CryptoError):
            ours.decrypt(garbage)


def test_encrypted_reply_envelope_verifies_like_wechat():
    key = new_aes_key()
    envelope = MessageCrypto(TOKEN, key, "wxapp").encrypt_reply("<xml><Content>hi</Content></xml>", "nonce1", "1700000000")
    fields = parse_xml(envelope.encode())
    assert fields["MsgSignature"] == sign(TOKEN, "1700000000", "nonce1", fields["Encrypt"])
    assert WxAes(key).decrypt(fields["Encrypt"]) == ("<xml><Content>hi</Content></xml>", "wxapp")


@pytest.mark.parametrize("bad", ["", "short", "a" * 44, "!" * 43])
def test_aes_key_validation(bad):
    with pytest.raises(ValueError):
        decode_aes_key(bad)
