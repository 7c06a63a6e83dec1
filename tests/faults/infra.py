"""Infrastructure the fault and scale tests may break: a private Redis, a private PostgreSQL, fresh
databases on the machine's PostgreSQL, and full replicas (Rasa + actions + web) on chosen ports.

Nothing here touches the machine's own Redis (6379) or PostgreSQL server (5432) beyond creating and
dropping a uniquely named database / flushing a dedicated Redis DB number, so other test runs on the
same machine are unaffected.
"""
from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from common.settings import REPO_ROOT, Settings, load_settings
from common.stack import MODEL_PATH, RASA_BIN, Stack, start_stack, wait_healthy

MACHINE_PG = "postgresql://postgres@127.0.0.1:5432/test"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
EMBEDDING_CACHE = str(REPO_ROOT / "var" / "cache" / "embeddings.sqlite")


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; that value, or TimeoutError."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # the thing we wait for may be down meanwhile
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached after {timeout:.0f}s (last: {last!r})")


# ---- Redis -------------------------------------------------------------------------------------
@dataclass
class PrivateRedis:
    """A redis-server of our own on a free port: can be killed and started again on the same port."""

    port: int = field(default_factory=free_port)
    process: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--protected-mode", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        wait_until(lambda: redis.Redis(port=self.port, socket_connect_timeout=0.5).ping(), 15, what="redis up")
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        self.kill()


# ---- PostgreSQL --------------------------------------------------------------------------------
def private_postgres_available() -> bool:
    return (PG_BIN / "initdb").exists() and (os.geteuid() != 0 or shutil.which("runuser") is not None)


@dataclass
class PrivatePostgres:
    """A throw-away PostgreSQL cluster (initdb in /tmp, trust auth, free port) that we may restart."""

    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="insurebot-pg-")))

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/insurebot"

    def _as_postgres(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if os.geteuid() == 0:     # initdb/postgres refuse to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=60)

    def start(self) -> "PrivatePostgres":
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        data = self.root / "data"
        if not data.exists():
            self._as_postgres(PG_BIN / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync",
                              "-E", "UTF8")
        self._ctl("start")
        self._as_postgres(PG_BIN / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres", "insurebot",
                          check=False)
        return self

    def _ctl(self, action: str) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        args = [PG_BIN / "pg_ctl", "-D", self.root / "data", "-l", self.root / "server.log", "-w", "-t", "30"]
        if action in ("start", "restart"):
            args += ["-o", opts]
        if action in ("stop", "restart"):
            args += ["-m", "fast"]
        self._as_postgres(*args, action)

    def restart(self) -> None:
        self._ctl("restart")

    def stop(self) -> None:
        self._ctl("stop")

    def destroy(self) -> None:
        try:
            self._as_postgres(PG_BIN / "pg_ctl", "-D", self.root / "data", "-m", "immediate", "stop", check=False)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def fresh_database(admin_url: str = MACHINE_PG, prefix: str = "scale_test") -> Iterator[str]:
    """A new database on the machine's PostgreSQL (unique name), dropped afterwards."""
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()


def terminate_connections(admin_url: str, database: str) -> int:
    """Kill every server-side connection to ``database`` (what clients see when PostgreSQL restarts)."""
    import psycopg2

    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def init_app_database(database_url: str, var_dir: Path) -> dict:
    """What docs/deployment.md prescribes before the first start of N replicas (python -m web.init_db)."""
    import json

    env = {**os.environ, "DATABASE_URL": database_url, "INSUREBOT_VAR_DIR": str(var_dir),
           "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([str(REPO_ROOT / ".venv-app" / "bin" / "python"), "-m", "web.init_db"], env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- replicas ----------------------------------------------------------------------------------
def replica_settings(var_dir: Path, base_port: int, extra: Dict[str, str]) -> Settings:
    return load_settings({
        "INSUREBOT_VAR_DIR": str(var_dir), "EMBEDDING_CACHE": EMBEDDING_CACHE,
        "RASA_PORT": str(base_port + 5005), "ACTION_PORT": str(base_port + 5055), "WEB_PORT": str(base_port + 8000),
        "RASA_URL": f"http://127.0.0.1:{base_port + 5005}",
        "ACTION_SERVER_URL": f"http://127.0.0.1:{base_port + 5055}/webhook",
        "WEB_URL": f"http://127.0.0.1:{base_port + 8000}",
        **extra,
    })


def replica_ports(base_port: int) -> List[int]:
    return [base_port + 5005, base_port + 5055, base_port + 8000]


class LogBuffer(io.StringIO):
    """Service logs, kept in memory for assertions and failure messages."""

    def tail(self, chars: int = 6000) -> str:
        return self.getvalue()[-chars:]


def start_replica(var_dir: Path, base_port: int, extra: Dict[str, str], channel_env: Dict[str, str],
                  *, ready_timeout: float = 400.0) -> Stack:
    """One full replica (Rasa, actions, web) on base+5005/5055/8000, healthy (index built) on return."""
    import pytest

    if not RASA_BIN.exists() or not MODEL_PATH.exists():
        pytest.skip("Rasa venv or models/insurebot.tar.gz missing: run `make install`")
    busy = [p for p in replica_ports(base_port) if not port_is_free(p)]
    if busy:
        pytest.skip(f"ports in use: {busy}")
    settings = replica_settings(var_dir, base_port, extra)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(extra)          # the children read DATABASE_URL / REDIS_URL themselves (load_settings)
    env.update(channel_env)
    env.update({"EMBEDDING_CACHE": EMBEDDING_CACHE, "SQLALCHEMY_SILENCE_UBER_WARNING": "1"})
    logs = LogBuffer()
    stack = start_stack(settings, log_sink=logs, env=env, ready_timeout=ready_timeout)
    stack.logs = logs  # type: ignore[attr-defined]
    try:
        wait_healthy(settings, timeout=ready_timeout)
    except Exception:
        stack.stop()
        raise RuntimeError("replica not healthy:\n" + logs.tail()) from None
    return stack


# ---- talking to a replica ----------------------------------------------------------------------
def rest_say(rasa_url: str, sender: str, text: str, timeout: float = 90.0) -> str:
    """One REST-channel turn; the bot's texts joined by newlines."""
    import httpx

    resp = httpx.post(f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=timeout)
    resp.raise_for_status()
    return "\n".join(m.get("text", "") for m in resp.json() if m.get("text"))


def tracker_of(rasa_url: str, sender: str) -> dict:
    import httpx

    return httpx.get(f"{rasa_url}/conversations/{sender}/tracker", params={"include_events": "ALL"},
                     timeout=30).json()


def user_texts(rasa_url: str, sender: str) -> List[str]:
    return [e.get("text") for e in tracker_of(rasa_url, sender)["events"] if e["event"] == "user"]


def wechat_say(pusher, platform, openid: str, fields: dict, *, wait_s: float = 60.0) -> str:
    """Push like WeChat (retries included) and return what the user sees: the passive reply, or the
    customer-service messages that follow a `success` when the turn took longer than ~4 s."""
    before = len(platform.messages_to(openid))
    result = pusher.push(fields)
    if result.reply_text:
        return result.reply_text
    assert result.final.status == 200, (result.final.status, result.final.body)
    platform.wait_for(lambda p: len(p.messages_to(openid)) > before, timeout=wait_s)
    time.sleep(0.5)   # a long answer arrives in several parts
    return "\n".join(platform.messages_to(openid)[before:])
