"""Fuzzing the webhook parsers, the fast version: a few thousand Hypothesis inputs.

bench/fuzz_webhooks.py runs the same targets with 100k+ inputs (`make bench`). Each target feeds
generated input to the real parsing code (no Rasa) and fails on any exception other than the
module's documented rejection, and on any forged message that gets processed. The regression tests
below pin the bugs the fuzzer found.
"""
from __future__ import annotations

import time

import pytest

from connectors.messages import InvalidMessage, parse_inbound
from connectors.security import Rejected, check_body_size, check_timestamp, sha1_signature
from connectors.wxxml import parse_xml
from tests.connectors import fuzz_targets as ft

EXAMPLES = 250


@pytest.mark.parametrize("target", ft.TARGETS, ids=[t.name for t in ft.TARGETS])
def test_fuzz_target(target):
    result = ft.fuzz(target, EXAMPLES)
    assert result.inputs >= min(EXAMPLES, 2)
    assert result.finding_count == 0, result.findings
    assert result.slow_inputs == 0, f"inputs slower than {ft.SLOW_INPUT_S}s: {result.max_ms:.0f} ms"


# ---- regressions found by the fuzzer -----------------------------------------------------------
@pytest.mark.parametrize("created", ["²", "١٢٣", "9" * 5000, "1e9", "-1", " 1"])
def test_create_time_that_int_refuses_is_an_invalid_message(created):
    with pytest.raises(InvalidMessage):
        parse_inbound({"FromUserName": "o1", "ToUserName": "gh", "CreateTime": created})


def test_non_ascii_msgid_is_ignored_not_trusted():
    msg = parse_inbound({"FromUserName": "o1", "ToUserName": "gh", "CreateTime": "1", "MsgId": "²"})
    assert msg.msg_id == "" and msg.dedupe_key.startswith("wx:gh:e:")


@pytest.mark.parametrize("encoding", ["ebcdic", "x-evil", "utf-7"])
def test_unknown_xml_encoding_is_a_400(encoding):
    body = f'<?xml version="1.0" encoding="{encoding}"?><xml><Content>x</Content></xml>'.encode()
    with pytest.raises(Rejected) as info:
        parse_xml(body)
    assert info.value.status == 400


@pytest.mark.parametrize("value", ["²", "١٧٠٠٠٠٠٠٠٠", "9" * 5000])
def test_odd_digits_in_timestamp_and_content_length_are_rejected_cleanly(value):
    with pytest.raises(Rejected) as info:
        check_timestamp(value)
    assert info.value.status == 403
    check_body_size(b"<xml/>", value)          # not a number: ignored, the real size is checked


def test_signed_push_with_superscript_create_time_gets_400_not_500():
    h = ft.harness()
    ts, nonce = str(int(time.time())), "7"
    query = {"signature": sha1_signature(ft.TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}
    body = b"<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>\xc2\xb2</CreateTime></xml>"
    reply = h.run(h.hooks["plain"].receive(query, body))
    assert reply.status == 400


def test_kf_message_with_malformed_origin_is_skipped():
    h = ft.harness()
    before = h.bot.calls
    for origin in ("abc", {"x": 1}, [3], "²", 3.5):
        ft.run_kf_message({"data": {}, "msg": {"msgid": "1", "origin": origin, "msgtype": "text",
                                              "text": {"content": "hi"}}})
    assert h.bot.calls == before


def test_forged_pushes_never_reach_the_bot():
    """The core property once more, directly: 200 forged pushes of each kind, zero bot turns."""
    h = ft.harness()
    before = h.bot.calls
    result = ft.fuzz(ft.Target("forged_only", "", ft.wechat_request().filter(
        lambda r: r["forged"] in ("random_signature", "wrong_token", "stale")), ft.run_wechat), 200)
    assert result.inputs > 0 and result.finding_count == 0 and h.bot.calls == before
