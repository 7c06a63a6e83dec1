"""Start and stop the three services (Rasa core, action server, web service) as child processes.

Used by `make run` (scripts/stack.py), by end-to-end tests and by the systemd units in
deploy/systemd (``python -m common.stack exec rasa|actions|web`` replaces itself with one service),
so all of them run exactly the same commands with the same derived environment. Standard library only.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Optional

from common.settings import REPO_ROOT, Settings, rasa_environment

RASA_BIN = REPO_ROOT / ".venv-rasa" / "bin" / "rasa"
RASA_PYTHON = REPO_ROOT / ".venv-rasa" / "bin" / "python"
# Rasa with the project's run-time fixes installed first (connectors/rasa_speedups.py)
RASA_LAUNCHER = REPO_ROOT / "scripts" / "run_rasa.py"
APP_PYTHON = REPO_ROOT / ".venv-app" / "bin" / "python"
MODEL_PATH = REPO_ROOT / "models" / "insurebot.tar.gz"

# Rasa's own "redis" lock store stops every conversation while Redis is down; this one falls back
# to in-process locks and returns to Redis when it is back (connectors/rasa_stores.py).
FAILOVER_LOCK_STORE = "connectors.rasa_stores.FailoverLockStore"
SERVICE_NAMES = ("actions", "web", "rasa")

CHANNEL_ENV_DEFAULTS = {
    # empty values keep the WeChat channels loadable (they answer 503 until configured)
    "WECHAT_TOKEN": "",
    "WECHAT_APP_ID": "",
    "WECHAT_APP_SECRET": "",
    "WECHAT_ENCODING_AES_KEY": "",
    "WECHAT_API_BASE_URL": "https://api.weixin.qq.com/cgi-bin/",
    "WECOM_CORP_ID": "",
    "WECOM_KF_SECRET": "",
    "WECOM_TOKEN": "",
    "WECOM_ENCODING_AES_KEY": "",
    "WECOM_OPEN_KFID": "",
    "WECOM_API_BASE_URL": "https://qyapi.weixin.qq.com/cgi-bin/",
}


@dataclass
class Service:
    name: str
    command: list[str]
    health_url: str
    process: Optional[subprocess.Popen] = None
    pump: Optional[threading.Thread] = None


@dataclass
class Stack:
    """The running services; `stop()` ends them all."""

    settings: Settings
    env: dict = field(default_factory=dict)
    log_sink: IO[str] = sys.stdout
    services: list[Service] = field(default_factory=list)

    def stop(self, timeout: float = 15.0) -> None:
        for svc in self.services:
            if svc.process and svc.process.poll() is None:
                svc.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for svc in self.services:
            if svc.process is None:
                continue
            try:
                svc.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _kill_group(svc)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a service's whole process group: the action server's Sanic runs worker processes that
        outlive a signal to the main process alone (and keep the port)."""
        svc = self.service(name)
        if svc.process is not None:
            try:
                os.killpg(svc.process.pid, sig)
            except ProcessLookupError:
                pass
            if sig in (signal.SIGKILL, signal.SIGTERM):
                svc.process.wait(20)

    def restart(self, name: str, ready_timeout: float = 180.0) -> None:
        """Stop one service and start it again with the same command (state must survive this)."""
        svc = self.service(name)
        if svc.process and svc.process.poll() is None:
            svc.process.send_signal(signal.SIGTERM)
            try:
                svc.process.wait(20)
            except subprocess.TimeoutExpired:
                pass
        _kill_group(svc)
        _launch(svc, self.env, self.log_sink)
        _wait_ready(self, [svc], ready_timeout)

    def dead(self) -> list[str]:
        return [s.name for s in self.services if s.process and s.process.poll() is not None]


def _kill_group(svc: Service) -> None:
    """SIGKILL whatever is left of a service (its main process and any worker it forked)."""
    if svc.process is None:
        return
    try:
        os.killpg(svc.process.pid, signal.SIGKILL)   # each service runs in its own session/group
    except (ProcessLookupError, PermissionError):
        pass
    try:
        svc.process.wait(10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process that survives SIGKILL
        pass


def service_environment(settings: Settings, base: Optional[dict] = None) -> dict[str, str]:
    """Environment for all children: the caller's, plus what Rasa's YAML files expand."""
    env = dict(os.environ if base is None else base)
    for key, value in CHANNEL_ENV_DEFAULTS.items():
        env.setdefault(key, value)
    env.update(rasa_environment(settings))
    if env.get("RASA_LOCK_STORE_TYPE") == "redis":
        env["RASA_LOCK_STORE_TYPE"] = FAILOVER_LOCK_STORE
    env.update({
        "PYTHONPATH": str(REPO_ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONUNBUFFERED": "1",
        "INSUREBOT_VAR_DIR": str(settings.var_dir),
        "EMBEDDING_CACHE": str(settings.embedding_cache),
        "WEB_PORT": str(settings.web_port),
        "RASA_URL": settings.rasa_url,
        "WEB_URL": settings.web_url,
        "ACTION_SERVER_URL": settings.action_server_url,
        # the children read these again with load_settings(): pass the caller's values on
        "INSUREBOT_ENV": settings.env,
        "RASA_AUTH_TOKEN": settings.rasa_auth_token,
        "RATE_LIMIT_PER_MINUTE": str(settings.rate_limit_per_minute),
        "RATE_LIMIT_BURST": str(settings.rate_limit_burst),
    })
    return env


def build_services(settings: Settings, model_path: Path = MODEL_PATH) -> list[Service]:
    rasa_cmd = [
        str(RASA_PYTHON), str(RASA_LAUNCHER), "run", "--enable-api", "--port", str(settings.rasa_port),
        "--model", str(model_path), "--endpoints", str(REPO_ROOT / "endpoints.yml"),
        "--credentials", str(REPO_ROOT / "credentials.yml"), "--cors", "*",
        "--log-file", str(settings.var_dir / "logs" / f"rasa-{settings.rasa_port}.log"),
    ]
    if settings.rasa_auth_token:
        rasa_cmd += ["--auth-token", settings.rasa_auth_token]
    return [
        Service("actions", [str(APP_PYTHON), str(REPO_ROOT / "scripts" / "run_actions.py"),
                            "--actions", "actions", "--port", str(settings.action_port)],
                f"http://127.0.0.1:{settings.action_port}/health"),
        Service("web", [str(APP_PYTHON), "-m", "uvicorn", "web.main:create_app", "--factory",
                        "--host", "127.0.0.1", "--port", str(settings.web_port),
                        "--log-level", "warning"],
                f"http://127.0.0.1:{settings.web_port}/livez"),
        Service("rasa", rasa_cmd, f"http://127.0.0.1:{settings.rasa_port}/"),
    ]


def _pump(name: str, stream: IO[bytes], sink: IO[str]) -> None:
    for raw in iter(stream.readline, b""):
        sink.write(f"[{name:7}] {raw.decode('utf-8', 'replace').rstrip()}\n")
        sink.flush()


def wait_healthy(settings: Settings, timeout: float = 300.0) -> dict:
    """Wait until the web service's /healthz says every component is up (the index builds after start)."""
    import json

    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/healthz", timeout=5) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            last = json.loads(exc.read() or b"{}")
        except Exception as exc:
            last = {"error": type(exc).__name__}
        time.sleep(1)
    raise TimeoutError(f"stack not healthy after {timeout:.0f}s: {last}")


def _is_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status < 500
    except Exception:
        return False


def start_stack(settings: Settings, *, log_sink: IO[str] = sys.stdout,
                ready_timeout: float = 180.0, env: Optional[dict] = None,
                model_path: Path = MODEL_PATH) -> Stack:
    """Start every service and wait until each answers its health URL."""
    (settings.var_dir / "logs").mkdir(parents=True, exist_ok=True)
    stack = Stack(settings, service_environment(settings, env), log_sink)
    for svc in build_services(settings, model_path):
        _launch(svc, stack.env, log_sink)
        stack.services.append(svc)
    _wait_ready(stack, list(stack.services), ready_timeout)
    return stack


def _launch(svc: Service, env: dict, log_sink: IO[str]) -> None:
    svc.process = subprocess.Popen(svc.command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    svc.pump = threading.Thread(target=_pump, args=(svc.name, svc.process.stdout, log_sink), daemon=True)
    svc.pump.start()


def _wait_ready(stack: Stack, pending: list[Service], ready_timeout: float) -> None:
    deadline = time.monotonic() + ready_timeout
    while pending:
        if stack.dead():
            stack.stop()
            raise RuntimeError(f"service exited during start-up: {', '.join(stack.dead())}")
        if time.monotonic() > deadline:
            stack.stop()
            raise TimeoutError(f"not ready after {ready_timeout:.0f}s: {[s.name for s in pending]}")
        pending = [s for s in pending if not _is_up(s.health_url)]
        time.sleep(0.5)


def exec_service(name: str, *, dry_run: bool = False) -> list[str]:
    """Replace this process with one service, configured from the environment (systemd units).

    The same command and derived environment as :func:`start_stack`, so a unit cannot drift from
    `make run`; systemd then supervises the service itself (restarts, logs, signals). Refuses to
    start with unsafe secrets outside development before anything is exec'd. ``dry_run`` returns the
    command instead (tests, ``--dry-run``).
    """
    from common.secret_check import check_production_secrets
    from common.settings import load_settings

    if name not in SERVICE_NAMES:
        raise SystemExit(f"unknown service {name!r}; one of {', '.join(SERVICE_NAMES)}")
    settings = load_settings()
    check_production_secrets(settings, name)
    service = next(s for s in build_services(settings) if s.name == name)
    if dry_run:
        return service.command
    (settings.var_dir / "logs").mkdir(parents=True, exist_ok=True)
    os.chdir(REPO_ROOT)
    os.execve(service.command[0], service.command, service_environment(settings))
    raise AssertionError("unreachable")  # pragma: no cover


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m common.stack exec [--dry-run] rasa|actions|web``."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m common.stack", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("exec", help="replace this process with one service (for systemd units)")
    run.add_argument("service", choices=SERVICE_NAMES)
    run.add_argument("--dry-run", action="store_true", help="print the command as JSON instead")
    args = parser.parse_args(argv)
    command = exec_service(args.service, dry_run=args.dry_run)
    print(json.dumps(command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
