"""End-to-end fixtures: the real three-service stack on private ports (never 5005/5055/8000)."""
from __future__ import annotations

import io
import json
import urllib.request
from typing import Iterator

import pytest

from common.settings import REPO_ROOT, Settings, load_settings
from common.stack import Stack, start_stack, wait_healthy

EMBEDDING_CACHE = str(REPO_ROOT / "var" / "cache" / "embeddings.sqlite")


def stack_settings(var_dir, base_port: int, **extra: str) -> Settings:
    env = {
        "INSUREBOT_VAR_DIR": str(var_dir), "EMBEDDING_CACHE": EMBEDDING_CACHE,
        "RASA_PORT": str(base_port + 5005), "ACTION_PORT": str(base_port + 5055), "WEB_PORT": str(base_port + 8000),
        "RASA_URL": f"http://127.0.0.1:{base_port + 5005}",
        "ACTION_SERVER_URL": f"http://127.0.0.1:{base_port + 5055}/webhook",
        "WEB_URL": f"http://127.0.0.1:{base_port + 8000}",
        **extra,
    }
    return load_settings(env)


class LogTail(io.StringIO):
    """Keeps service logs for failure messages without flooding the test output."""


def run_stack(settings: Settings, env: dict | None = None) -> Iterator[Stack]:
    logs = LogTail()
    stack = start_stack(settings, log_sink=logs, env=env)
    try:
        wait_healthy(settings)
        stack.logs = logs  # type: ignore[attr-defined]
        yield stack
    finally:
        stack.stop()


def rest(settings: Settings, sender: str, message: str, timeout: float = 30) -> list[dict]:
    req = urllib.request.Request(f"{settings.rasa_url}/webhooks/rest/webhook",
                                 data=json.dumps({"sender": sender, "message": message}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


def tracker(settings: Settings, sender: str) -> dict:
    with urllib.request.urlopen(f"{settings.rasa_url}/conversations/{sender}/tracker", timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="session")
def sqlite_stack(tmp_path_factory):
    settings = stack_settings(tmp_path_factory.mktemp("stack-sqlite"), 20000)
    yield from run_stack(settings)
