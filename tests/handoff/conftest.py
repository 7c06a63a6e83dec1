"""Fixtures for the hand-off tests: the application database on SQLite and on PostgreSQL."""
from __future__ import annotations

from typing import Iterator

import pytest
from sqlalchemy.engine import Engine

import handoff.store  # noqa: F401  (declares the tables)
import web.auth  # noqa: F401
from storage.db import get_engine, metadata
from tests.databases import pg_schema_engine


def sqlite_engine(tmp_path) -> Engine:
    engine = get_engine(f"sqlite:///{tmp_path / 'app.db'}")
    metadata.create_all(engine)
    return engine


def pg_engine() -> Iterator[Engine]:
    yield from pg_schema_engine("handoff", metadata.create_all, pool_size=12, max_overflow=4)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        yield sqlite_engine(tmp_path)
    else:
        yield from pg_engine()


# ---- the real stack (Rasa, actions, web) on this suite's private ports, WeChat/WeCom faked ------
import os  # noqa: E402
import secrets  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any, Optional  # noqa: E402

import httpx  # noqa: E402

from common.settings import REPO_ROOT, Settings, load_settings  # noqa: E402
from common.stack import MODEL_PATH, RASA_BIN, Stack, start_stack, wait_healthy  # noqa: E402
from tests.fakes.wechat_platform import FakeWeChatPlatform  # noqa: E402
from tests.fakes.wechat_pusher import new_aes_key  # noqa: E402

RASA_PORT, ACTION_PORT, WEB_PORT = 55005, 55055, 58000
APP_ID, APP_SECRET, WECHAT_TOKEN = "wxhandoff00000001", "handoff-app-secret", "handoff-token"
CORP_ID, AGENT_SECRET, AGENT_ID = "wwhandoffcorp0001", "handoff-agent-secret", 1000002
AGENT_TOKEN = "handoff-agent-callback-token"
PASSWORD = "agent-pass-123"


@dataclass
class HandoffStack:
    settings: Settings
    stack: Stack
    platform: FakeWeChatPlatform
    agent_aes_key: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    @property
    def web(self) -> str:
        return self.settings.web_url

    @property
    def rasa(self) -> str:
        return self.settings.rasa_url

    def engine(self):
        return get_engine(self.settings.app_database_url)

    def rest(self, sender: str, text: str) -> list[dict[str, Any]]:
        resp = self.http.post(f"{self.rasa}/webhooks/rest/webhook", json={"sender": sender, "message": text})
        resp.raise_for_status()
        return resp.json()

    def tracker(self, sender: str) -> dict[str, Any]:
        return self.http.get(f"{self.rasa}/conversations/{sender}/tracker").json()

    def all_agents_offline(self) -> None:
        """Tests share one stack: each starts from "nobody on duty"."""
        from sqlalchemy import update

        from handoff.store import agents

        with self.engine().begin() as conn:
            conn.execute(update(agents).values(status="offline"))

    def agent(self, username: str, name: str, wecom_userid: Optional[str] = None, status: str = "online",
              role: str = "agent") -> "AgentSession":
        from web.auth import create_user

        create_user(self.engine(), username, PASSWORD, role, display_name=name, wecom_userid=wecom_userid)
        client = httpx.Client(base_url=self.web, timeout=30)
        resp = client.post("/agent/login", data={"username": username, "password": PASSWORD})
        assert resp.status_code == 303 and resp.headers["location"] == "/agent/", resp.text
        session = AgentSession(client, client.get("/agent/api/me").json()["user"]["id"])
        session.status(status)
        return session


@dataclass
class AgentSession:
    client: httpx.Client
    user_id: int

    def status(self, status: str) -> None:
        assert self.client.post("/agent/api/status", json={"status": status}).status_code == 200

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        resp = self.client.get(path, params=params)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def post(self, path: str, json: Any = None) -> httpx.Response:
        return self.client.post(path, json=json)

    def handoff(self, handoff_id: int) -> dict[str, Any]:
        return self.get(f"/agent/api/handoffs/{handoff_id}")


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


@pytest.fixture(scope="session")
def hstack(tmp_path_factory) -> Iterator[HandoffStack]:
    if not RASA_BIN.exists() or not MODEL_PATH.exists():
        pytest.skip("Rasa venv or models/insurebot.tar.gz missing: run `make install`")
    platform = FakeWeChatPlatform().start()
    platform.add_app(APP_ID, APP_SECRET)
    platform.add_corp(CORP_ID, agent_secret=AGENT_SECRET, agent_id=AGENT_ID)
    var = tmp_path_factory.mktemp("handoff-stack")
    aes_key = new_aes_key()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update({
        "WECHAT_TOKEN": WECHAT_TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
        "WECHAT_ENCODING_AES_KEY": "", "WECHAT_API_BASE_URL": platform.base_url,
        "WECOM_CORP_ID": CORP_ID, "WECOM_AGENT_SECRET": AGENT_SECRET, "WECOM_AGENT_ID": str(AGENT_ID),
        "WECOM_API_BASE_URL": platform.base_url, "WECOM_AGENT_TOKEN": AGENT_TOKEN,
        "WECOM_AGENT_ENCODING_AES_KEY": aes_key,
        "HANDOFF_SERVICE_HOURS": "00:00-24:00", "HANDOFF_POLL_S": "0.3",
        "EMBEDDING_MODEL_DIR": str(REPO_ROOT / "var" / "models" / "e5-small"),
    })
    settings = load_settings({
        "INSUREBOT_VAR_DIR": str(var), "EMBEDDING_CACHE": str(REPO_ROOT / "var" / "cache" / "embeddings.sqlite"),
        "RASA_PORT": str(RASA_PORT), "ACTION_PORT": str(ACTION_PORT), "WEB_PORT": str(WEB_PORT),
        "RASA_URL": f"http://127.0.0.1:{RASA_PORT}", "WEB_URL": f"http://127.0.0.1:{WEB_PORT}",
        "ACTION_SERVER_URL": f"http://127.0.0.1:{ACTION_PORT}/webhook",
    })
    log = open(var / "stack.log", "w", encoding="utf-8")
    try:
        stack = start_stack(settings, env=env, log_sink=log, ready_timeout=300)
        wait_healthy(settings, timeout=300)
    except Exception:
        log.flush()
        print((var / "stack.log").read_text(encoding="utf-8")[-5000:])
        platform.stop()
        raise
    hs = HandoffStack(settings, stack, platform, aes_key)
    try:
        yield hs
    finally:
        stack.stop()
        platform.stop()
        log.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"
