"""Start the real stack (Rasa, actions, web) for connector end-to-end tests, on test ports."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional

import pytest

from common.settings import REPO_ROOT, Settings, load_settings
from common.stack import MODEL_PATH, RASA_BIN, Stack, start_stack, wait_healthy
from tests.conftest import EMBEDDING_CACHE

RASA_PORT, ACTION_PORT, WEB_PORT = 15005, 15055, 18000
RASA = f"http://127.0.0.1:{RASA_PORT}"
WEB = f"http://127.0.0.1:{WEB_PORT}"


def stack_settings(var_dir: Path, action_server_url: Optional[str] = None) -> Settings:
    return load_settings({
        "RASA_PORT": str(RASA_PORT), "ACTION_PORT": str(ACTION_PORT), "WEB_PORT": str(WEB_PORT),
        "RASA_URL": RASA, "WEB_URL": WEB, "INSUREBOT_VAR_DIR": str(var_dir),
        "ACTION_SERVER_URL": action_server_url or f"http://127.0.0.1:{ACTION_PORT}/webhook",
        "EMBEDDING_CACHE": str(EMBEDDING_CACHE),
    })


def start_test_stack(var_dir: Path, channel_env: Dict[str, str],
                     action_server_url: Optional[str] = None) -> Stack:
    """Start everything with ``channel_env`` (WECHAT_*/WECOM_*) or skip when not installed."""
    if not RASA_BIN.exists() or not MODEL_PATH.exists():
        pytest.skip("Rasa venv or models/insurebot.tar.gz missing: run `make install`")
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    env.update(channel_env)
    # the embedding model is built once under the repository's var/, not in the test's var dir
    env.setdefault("EMBEDDING_MODEL_DIR", str(REPO_ROOT / "var" / "models" / "e5-small"))
    log = open(var_dir / "stack.log", "w", encoding="utf-8")
    settings = stack_settings(var_dir, action_server_url)
    try:
        stack = start_stack(settings, env=env, log_sink=log)
        try:
            wait_healthy(settings)   # the knowledge index is built: tests never share the cores with that build
        except Exception:
            stack.stop()
            raise
        return stack
    except Exception:
        log.flush()
        print((var_dir / "stack.log").read_text(encoding="utf-8")[-5000:])
        raise
