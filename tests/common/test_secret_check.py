"""Start-up refusal of unsafe secrets outside development (common.secret_check)."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from common.secret_check import (MIN_SECRET_CHARS, InsecureSettings, check_production_secrets,
                                 example_values, secret_problems)
from common.settings import DEV_SECRET_MARKER, REPO_ROOT, Settings, load_settings

STRONG = "q7J0v2nX9cR4tY8wZ1bM5kL3"          # 24 characters, not in .env.example
AES = "kX3mR8vQ2nL7pT1wZ5cY9bH4jF6gD0sA2eU8iO3rN5t"   # 43 characters
# TRANSCRIPT_KEYS only matters once Settings has the field (privacy work); harmless before
PROD = {"INSUREBOT_ENV": "production", "RASA_AUTH_TOKEN": STRONG,
        "TRANSCRIPT_KEYS": "k1:0123456789abcdef0123456789abcdef"}


def settings(**env: str) -> Settings:
    return load_settings({**PROD, **env})


def names(problems: list[str]) -> set[str]:
    return {p.split(" ", 1)[0] for p in problems}


def test_development_never_refuses():
    check_production_secrets(load_settings({}))
    check_production_secrets(load_settings({"INSUREBOT_ENV": "development", "WECHAT_APP_ID": "wx1"}))


def test_production_with_strong_secrets_starts():
    check_production_secrets(settings())
    check_production_secrets(settings(WECHAT_APP_ID="wx1234567890abcdef", WECHAT_TOKEN=STRONG[::-1],
                                      WECHAT_APP_SECRET=STRONG + "x", WECHAT_ENCODING_AES_KEY=AES))


@pytest.mark.parametrize("value,reason", [
    ("", "is empty"),
    ("short-token", "too short"),
    (f"{DEV_SECRET_MARKER}-but-long-enough-0123", "development marker"),
    (f"Long-{DEV_SECRET_MARKER.upper()}-token-0123456", "development marker"),
    ("http://127.0.0.1:5005", "example value"),               # a value written in .env.example
])
def test_unsafe_rasa_auth_token_is_refused(value, reason):
    with pytest.raises(InsecureSettings) as info:
        check_production_secrets(settings(RASA_AUTH_TOKEN=value), "web service")
    assert isinstance(info.value, SystemExit)
    message = str(info.value)
    assert "RASA_AUTH_TOKEN" in message and reason in message and "web service" in message
    if value:
        assert value not in message                            # names only, never the secret


def test_channel_secrets_only_when_the_channel_is_configured():
    assert secret_problems(settings(WECHAT_TOKEN="x"), examples=set()) == []     # no WECHAT_APP_ID
    found = secret_problems(settings(WECHAT_APP_ID="wx1234567890abcdef", WECHAT_TOKEN="tok"), examples=set())
    assert names(found) == {"WECHAT_TOKEN", "WECHAT_APP_SECRET", "WECHAT_ENCODING_AES_KEY"}
    kf = secret_problems(settings(WECOM_CORP_ID="ww1", WECOM_OPEN_KFID="wk1"), examples=set())
    assert names(kf) == {"WECOM_KF_SECRET", "WECOM_TOKEN", "WECOM_ENCODING_AES_KEY"}
    assert secret_problems(settings(WECOM_CORP_ID="ww1"), examples=set()) == []
    agent = secret_problems(settings(WECOM_AGENT_ID="1000002", WECOM_AGENT_TOKEN=STRONG), examples=set())
    assert names(agent) == {"WECOM_AGENT_SECRET", "WECOM_AGENT_ENCODING_AES_KEY"}


def test_all_problems_are_listed_at_once():
    found = secret_problems(load_settings({"INSUREBOT_ENV": "production", "WECHAT_APP_ID": "wx1"}))
    assert names(found) - {"TRANSCRIPT_KEYS"} == {"RASA_AUTH_TOKEN", "WECHAT_TOKEN", "WECHAT_APP_SECRET",
                                                   "WECHAT_ENCODING_AES_KEY"}


def test_example_values_come_from_env_example():
    values = example_values()
    assert "https://api.weixin.qq.com/cgi-bin/" in values and "development" in values
    assert not any(v.startswith("#") for v in values)


def test_min_length_boundary():
    assert secret_problems(settings(RASA_AUTH_TOKEN="a" * MIN_SECRET_CHARS), examples=set()) == []
    assert secret_problems(settings(RASA_AUTH_TOKEN="a" * (MIN_SECRET_CHARS - 1)), examples=set())


def with_keys(keys: object) -> Settings:
    """Settings whose transcript_keys is ``keys``, whether or not Settings declares the field yet."""
    base = settings()
    if "transcript_keys" in {f.name for f in dataclasses.fields(Settings)}:
        return dataclasses.replace(base, transcript_keys=keys)
    with_field = dataclasses.make_dataclass("WithKeys", [("transcript_keys", object, "")], bases=(Settings,),
                                            frozen=True)
    return with_field(**{f.name: getattr(base, f.name) for f in dataclasses.fields(Settings)},
                      transcript_keys=keys)


@pytest.mark.parametrize("keys,ok", [
    ("", False),
    (STRONG, True),
    (f"k1:{STRONG},k2:{STRONG[::-1]}", True),
    (f"k1:{STRONG},k2:short", False),
    (f"k1:{DEV_SECRET_MARKER}-{STRONG}", False),
    ([STRONG, STRONG[::-1]], True),
    ((), False),
    ({"k1": STRONG.encode()}, True),
])
def test_transcript_keys_once_the_setting_exists(keys, ok):
    problems = secret_problems(with_keys(keys), examples=set())
    assert (problems == []) == ok, problems
    if not ok:
        assert names(problems) == {"TRANSCRIPT_KEYS"}


# ---- every entry point refuses ------------------------------------------------------------------
def test_web_factory_refuses(tmp_path):
    from web.main import create_app

    with pytest.raises(SystemExit):
        create_app(load_settings({"INSUREBOT_ENV": "production", "INSUREBOT_VAR_DIR": str(tmp_path)}))


def _run(python: str, args: list[str], tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "WECOM_", "RASA_AUTH"))}
    env.update(PYTHONPATH=str(REPO_ROOT), INSUREBOT_ENV="production", INSUREBOT_VAR_DIR=str(tmp_path),
               RASA_AUTH_TOKEN="", WECHAT_APP_ID="wx1234567890abcdef", WECHAT_TOKEN=f"{DEV_SECRET_MARKER}-token")
    return subprocess.run([python, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("entry", ["make run", "action server", "rasa channel"])
def test_services_exit_non_zero_naming_the_variables(entry, tmp_path):
    rasa_python = REPO_ROOT / ".venv-rasa" / "bin" / "python"
    if entry == "make run":
        proc = _run(sys.executable, [str(REPO_ROOT / "scripts" / "stack.py")], tmp_path)
    elif entry == "action server":
        proc = _run(sys.executable, [str(REPO_ROOT / "scripts" / "run_actions.py"), "--actions", "actions",
                                     "--port", "1"], tmp_path)
    else:
        if not rasa_python.exists():
            pytest.skip("Rasa venv missing")
        code = ("from connectors.wechat_channel import WeChatInput\n"
                "WeChatInput.from_credentials({'token': '', 'app_id': 'wx1234567890abcdef'})\n")
        proc = _run(str(rasa_python), ["-c", code], tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    for name in ("RASA_AUTH_TOKEN", "WECHAT_TOKEN", "WECHAT_APP_SECRET", "WECHAT_ENCODING_AES_KEY"):
        assert name in proc.stderr
    assert f"{DEV_SECRET_MARKER}-token" not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
