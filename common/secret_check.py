"""Refuse to start outside development with missing, example, dev-only or short secrets.

Every service calls :func:`check_production_secrets` at start-up (web factory, action server,
Rasa channels, ``make run``), so a production deployment cannot come up with the values from
``.env.example`` or a forgotten RASA_AUTH_TOKEN. Messages name the variables, never their values.
Python 3.10-compatible (the Rasa channels call it too).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from common.settings import DEV_SECRET_MARKER, REPO_ROOT, Settings

MIN_SECRET_CHARS = 16
ENV_EXAMPLE = REPO_ROOT / ".env.example"


class InsecureSettings(SystemExit):
    """Start-up refused; a SystemExit so every entry point exits non-zero with the message, no traceback."""

    def __init__(self, service: str, problems: List[str]) -> None:
        self.problems = problems
        where = f" ({service})" if service else ""
        super().__init__(
            f"refusing to start{where}: INSUREBOT_ENV is not 'development' and these secrets are unsafe:\n"
            + "\n".join(f"  - {p}" for p in problems)
            + "\nSet strong random values (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`);"
              " see docs/security.md.")


def is_development(settings: Settings) -> bool:
    return settings.env.strip().lower() == "development"


def example_values(path: Path = ENV_EXAMPLE) -> Set[str]:
    """Every non-empty value written in ``.env.example`` (a secret must not be one of them)."""
    values: Set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return values
    for line in lines:
        if line.lstrip().startswith("#") or "=" not in line:
            continue
        value = line.split("=", 1)[1].split(" #", 1)[0].strip().strip("'\"")
        if value:
            values.add(value)
    return values


def _any_set(*values: str) -> bool:
    return any(v.strip() for v in values)


def required_secrets(settings: Settings) -> List[Tuple[str, Any]]:
    """(variable, value) of every secret this deployment needs, given what is configured."""
    s = settings
    required: List[Tuple[str, Any]] = [("RASA_AUTH_TOKEN", s.rasa_auth_token)]
    if s.wechat_app_id.strip():                       # Official Account channel in use
        required += [("WECHAT_TOKEN", s.wechat_token), ("WECHAT_APP_SECRET", s.wechat_app_secret),
                     ("WECHAT_ENCODING_AES_KEY", s.wechat_encoding_aes_key)]
    if _any_set(s.wecom_kf_secret, s.wecom_token, s.wecom_encoding_aes_key, s.wecom_open_kfid):
        required += [("WECOM_KF_SECRET", s.wecom_kf_secret), ("WECOM_TOKEN", s.wecom_token),
                     ("WECOM_ENCODING_AES_KEY", s.wecom_encoding_aes_key)]
    if _any_set(s.wecom_agent_id, s.wecom_agent_secret):   # agent notifications (hand-off)
        required.append(("WECOM_AGENT_SECRET", s.wecom_agent_secret))
    if _any_set(s.wecom_agent_token, s.wecom_agent_encoding_aes_key):   # agents' reply callback
        required += [("WECOM_AGENT_TOKEN", s.wecom_agent_token),
                     ("WECOM_AGENT_ENCODING_AES_KEY", s.wecom_agent_encoding_aes_key)]
    # transcript encryption keys: checked as soon as the setting exists (added by the privacy work)
    if hasattr(s, "transcript_keys"):
        required.append(("TRANSCRIPT_KEYS", getattr(s, "transcript_keys")))
    return required


def _parts(value: Any) -> List[str]:
    """The individual secrets in a value: a string, a comma-separated key list, bytes, a list or dict."""
    if value is None:
        return [""]
    if isinstance(value, bytes):
        return [value.decode("utf-8", "replace")]
    if isinstance(value, dict):
        return [p for v in value.values() for p in _parts(v)] or [""]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [p for v in value for p in _parts(v)] or [""]
    text = str(value).strip()
    if "," in text:
        return [p.strip() for p in text.split(",")]
    return [text]


def _problem(name: str, value: Any, examples: Set[str]) -> Optional[str]:
    whole = value.strip() if isinstance(value, str) else value
    if isinstance(whole, str) and whole in examples:
        return f"{name} is the example value from .env.example"
    for part in _parts(value):
        secret = part.split(":", 1)[1] if ":" in part and name == "TRANSCRIPT_KEYS" else part
        if not secret:
            return f"{name} is empty"
        if DEV_SECRET_MARKER in part.lower():
            return f"{name} contains the development marker '{DEV_SECRET_MARKER}'"
        if part in examples or secret in examples:
            return f"{name} is the example value from .env.example"
        if len(secret) < MIN_SECRET_CHARS:
            return f"{name} is too short (at least {MIN_SECRET_CHARS} characters)"
    return None


def secret_problems(settings: Settings, examples: Optional[Iterable[str]] = None) -> List[str]:
    """What is wrong with the secrets (empty list = fine); names only, never values."""
    known = set(example_values() if examples is None else examples)
    found: Dict[str, str] = {}
    for name, value in required_secrets(settings):
        problem = _problem(name, value, known)
        if problem and name not in found:
            found[name] = problem
    return list(found.values())


def check_production_secrets(settings: Settings, service: str = "") -> None:
    """Raise :class:`InsecureSettings` (exit status 1) outside development when a secret is unsafe."""
    if is_development(settings):
        return
    problems = secret_problems(settings)
    if problems:
        raise InsecureSettings(service, problems)
