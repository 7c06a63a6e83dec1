"""SM4-GCM tokens: round trip, no plaintext in the ciphertext, tamper/move/wrong-key detection, key config."""
from __future__ import annotations

import base64
import os

import pytest

from common.settings import load_settings
from transcripts import crypto
from transcripts.crypto import DEV_KEY_ID, DecryptionError, KeyConfigError, KeyRing, key_id_of, parse_keys

from .conftest import K1, K2

AAD = b"uid-1\x1fsubject-1\x1fuser"


def test_round_trip_and_key_id_recorded(ring):
    text = "我想问下百万医疗险的等待期😊 多久？"
    token = ring.encrypt(text, AAD)
    assert token.startswith("sm4gcm1.k1.") and key_id_of(token) == "k1"
    assert ring.decrypt(token, AAD) == text


def test_ciphertext_contains_no_plaintext_and_is_not_deterministic(ring):
    text = "我的手机号13812345678 身份证110101199003071234"
    a, b = ring.encrypt(text, AAD), ring.encrypt(text, AAD)
    assert a != b                                           # fresh nonce each time
    raw = base64.urlsafe_b64decode(a.split(".")[2] + "==")
    for needle in ("13812345678", "110101199003071234", "手机号"):
        assert needle not in a
        assert needle.encode("utf-8") not in raw
    assert len(raw) == 12 + len(text.encode("utf-8")) + 16


@pytest.mark.parametrize("position", [0, 5, 12, 20, -1])
def test_any_flipped_byte_is_detected(ring, position):
    token = ring.encrypt("保单号P20240001 已退保", AAD)
    prefix, raw = token.rsplit(".", 1)
    data = bytearray(base64.urlsafe_b64decode(raw + "=="))
    data[position] ^= 0x01
    forged = prefix + "." + base64.urlsafe_b64encode(bytes(data)).decode().rstrip("=")
    with pytest.raises(DecryptionError):
        ring.decrypt(forged, AAD)


def test_token_moved_to_another_row_or_user_is_detected(ring):
    token = ring.encrypt("转人工", AAD)
    with pytest.raises(DecryptionError):
        ring.decrypt(token, b"uid-1\x1fsubject-2\x1fuser")       # another user's row
    with pytest.raises(DecryptionError):
        ring.decrypt(token, b"uid-1\x1fsubject-1\x1fagent")      # relabelled as the agent's words


def test_wrong_or_missing_key():
    token = KeyRing.from_value(K1).encrypt("你好", AAD)
    same_id_other_key = KeyRing.from_value("k1:ffeeddccbbaa99887766554433221100")
    with pytest.raises(DecryptionError, match="authentication"):
        same_id_other_key.decrypt(token, AAD)
    with pytest.raises(DecryptionError, match="unknown key"):
        KeyRing.from_value(K2).decrypt(token, AAD)
    relabelled = token.replace("sm4gcm1.k1.", "sm4gcm1.k2.")
    with pytest.raises(DecryptionError):
        KeyRing.from_value(f"{K2},{K1}").decrypt(relabelled, AAD)   # key id is authenticated too


def test_first_key_is_active_and_old_keys_still_decrypt():
    old = KeyRing.from_value(K1).encrypt("旧数据", AAD)
    both = KeyRing.from_value(f"{K2},{K1}")
    assert both.active_id == "k2" and both.key_ids[:2] == ["k2", "k1"]
    assert both.decrypt(old, AAD) == "旧数据"
    assert key_id_of(both.encrypt("新数据", AAD)) == "k2"


@pytest.mark.parametrize("value, message", [
    ("k1", "expected"), ("k1:0011", "32 hex"), ("k1:zz112233445566778899aabbccddeeff", "hexadecimal"),
    (f"{K1},{K1}", "twice"), ("bad id:00112233445566778899aabbccddeeff", "expected"),
    ("dev-only:00112233445566778899aabbccddeeff", "reserved"), (" , ", "empty"),
])
def test_malformed_keys_are_refused_without_echoing_them(value, message):
    with pytest.raises(KeyConfigError, match=message) as err:
        KeyRing.from_value(value)
    assert "00112233445566778899aabbccddeeff" not in str(err.value)
    assert parse_keys(K1 + " , " + K2)[1][0] == "k2"


def test_development_uses_the_marked_dev_key():
    ring = KeyRing.from_settings(load_settings({"INSUREBOT_ENV": "development"}))
    assert ring.active_id == DEV_KEY_ID and ring.is_dev
    # deterministic: another process (Rasa, actions, CLI) derives the same key and can read the rows
    assert KeyRing.development().decrypt(ring.encrypt("x", AAD), AAD) == "x"


@pytest.mark.parametrize("env", ["production", "staging"])
def test_outside_development_no_key_refuses_to_start(env):
    with pytest.raises(KeyConfigError, match="TRANSCRIPT_KEYS"):
        KeyRing.from_settings(load_settings({"INSUREBOT_ENV": env}))
    ring = KeyRing.from_settings(load_settings({"INSUREBOT_ENV": env, "TRANSCRIPT_KEYS": f"{K2},{K1}"}))
    assert ring.active_id == "k2" and not ring.is_dev


def test_production_secret_check_knows_the_transcript_keys():
    """The shared start-up check (common/secret_check.py) refuses a missing or short key in production."""
    from common.secret_check import secret_problems

    base = {"INSUREBOT_ENV": "production", "RASA_AUTH_TOKEN": "a-long-random-rasa-token-0123456789"}
    assert any("TRANSCRIPT_KEYS" in p for p in secret_problems(load_settings(base), examples=set()))
    ok = load_settings({**base, "TRANSCRIPT_KEYS": f"{K2},{K1}"})
    assert not any("TRANSCRIPT_KEYS" in p for p in secret_problems(ok, examples=set()))


# ---- nonces: drawn from the OS in batches -------------------------------------------------------
def _nonce_of(token: str) -> bytes:
    return base64.urlsafe_b64decode(token.split(".")[2] + "==")[:12]


def test_nonces_stay_unique_across_batches(ring):
    tokens = [ring.encrypt("同一句话", AAD) for _ in range(3 * crypto._NonceSource.BATCH + 7)]
    nonces = {_nonce_of(t) for t in tokens}
    assert len(nonces) == len(tokens)
    assert all(ring.decrypt(t, AAD) == "同一句话" for t in tokens[::97])


def test_one_system_call_serves_a_batch_of_nonces(monkeypatch):
    calls = []
    real = os.urandom

    def counting(n: int) -> bytes:
        calls.append(n)
        return real(n)

    monkeypatch.setattr(crypto.os, "urandom", counting)
    source = crypto._NonceSource()
    taken = [source.take() for _ in range(2 * source.BATCH)]
    assert len(calls) == 2 and len(set(taken)) == len(taken) and all(len(n) == 12 for n in taken)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_never_reuses_its_parents_nonces():
    source = crypto._NonceSource()
    source.take()                                   # the parent holds a batch
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # child: its next nonce, back to the parent
        os.close(read_end)
        os.write(write_end, source.take())
        os._exit(0)
    os.close(write_end)
    child_nonce = os.read(read_end, 12)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(child_nonce) == 12 and child_nonce != source.take()
