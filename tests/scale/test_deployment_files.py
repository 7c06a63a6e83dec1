"""deploy/ must describe a deployment that can start: the units run commands and modules that exist,
name only variables the settings know (.env.example), reference units that exist, and the production
start-up refuses the template's empty secrets (docs/deployment.md)."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from common.settings import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").iterdir())
INSTALL_ROOT = "/opt/insurebot"
APP_PYTHON = REPO_ROOT / ".venv-app" / "bin" / "python"
# system paths a unit may name besides the release (present on any Debian with PostgreSQL client)
SYSTEM_PATHS = ("/etc/insurebot/", "/var/lib/insurebot", "/var/backups/insurebot")


def parse_unit(path: Path) -> List[Tuple[str, str, str]]:
    """(section, key, value) in order; systemd allows repeated keys, so no configparser."""
    entries, section = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def env_example_names() -> set:
    names = set()
    for line in (REPO_ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


def env_file(path: Path) -> Dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value
    return values


def in_repo(path: str) -> Path:
    assert path.startswith(INSTALL_ROOT + "/"), path
    return REPO_ROOT / path[len(INSTALL_ROOT) + 1:]


def test_units_parse_and_have_the_sections_they_need():
    assert {u.name for u in UNITS} >= {"insurebot-rasa@.service", "insurebot-actions@.service",
                                       "insurebot-web@.service", "insurebot@.target", "insurebot-init-db.service"}
    for unit in UNITS:
        entries = parse_unit(unit)
        sections = {s for s, _, _ in entries}
        assert "Unit" in sections, unit.name
        if unit.suffix == ".service":
            assert "Service" in sections and any(k == "ExecStart" for _, k, _ in entries), unit.name
        if "%i" in unit.read_text(encoding="utf-8"):
            assert "@." in unit.name, f"{unit.name} uses %i but is not a template"


def test_exec_start_names_existing_commands_and_modules():
    for unit in UNITS:
        for _, key, value in parse_unit(unit):
            if key != "ExecStart":
                continue
            argv = shlex.split(value)
            binary = in_repo(argv[0])
            assert binary.exists(), f"{unit.name}: {argv[0]} is not in the release"
            if binary.name == "python" and "-m" in argv:
                module = argv[argv.index("-m") + 1]
                candidates = [REPO_ROOT / (module.replace(".", "/") + ".py"),
                              REPO_ROOT / module.replace(".", "/") / "__main__.py"]
                assert any(c.exists() for c in candidates), f"{unit.name}: module {module} not found"
            if binary.suffix == ".sh":
                assert os.access(binary, os.X_OK), f"{binary} is not executable"


def test_service_commands_resolve_to_what_make_run_starts():
    """`python -m common.stack exec --dry-run X` gives the command start_stack runs; its binary exists."""
    for unit_name, service in (("insurebot-rasa@.service", "rasa"), ("insurebot-actions@.service", "actions"),
                               ("insurebot-web@.service", "web")):
        exec_start = next(v for _, k, v in parse_unit(DEPLOY / "systemd" / unit_name) if k == "ExecStart")
        assert shlex.split(exec_start)[-1] == service
        env = {**os.environ, **env_file(DEPLOY / "env" / "replica-2.env"), "INSUREBOT_ENV": "development"}
        env.pop("DATABASE_URL", None)
        proc = subprocess.run([str(APP_PYTHON), "-m", "common.stack", "exec", "--dry-run", service], env=env,
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        command = json.loads(proc.stdout)
        assert Path(command[0]).exists(), command
        port = {"rasa": "5105", "actions": "5155", "web": "8100"}[service]
        assert port in command, command


def test_every_variable_named_in_deploy_is_a_known_setting():
    known = env_example_names()
    named = set()
    for unit in UNITS:
        for _, key, value in parse_unit(unit):
            if key == "Environment":
                named.add(value.split("=", 1)[0])
            if key == "EnvironmentFile":
                assert value.lstrip("-").startswith("/etc/insurebot/"), value
    for path in sorted((DEPLOY / "env").glob("*.env")):
        named |= set(env_file(path))
    unknown = sorted(named - known)
    assert not unknown, f"not in .env.example: {unknown}"


def test_units_reference_units_that_exist():
    names = {u.name for u in UNITS}
    for unit in UNITS:
        for _, key, value in parse_unit(unit):
            if key not in ("Wants", "Requires", "After", "Before", "PartOf", "WantedBy"):
                continue
            for ref in value.split():
                if not ref.startswith("insurebot"):
                    continue
                template = re.sub(r"@[^.]*\.", "@.", ref)
                assert template in names, f"{unit.name}: {key}={ref} has no unit file"


def test_replica_env_files_and_nginx_agree():
    conf = (DEPLOY / "nginx" / "insurebot.conf").read_text(encoding="utf-8")
    upstreams = dict(re.findall(r"upstream (\w+) \{(.*?)\}", conf, re.S))
    for path in sorted((DEPLOY / "env").glob("replica-*.env")):
        values = env_file(path)
        assert f"127.0.0.1:{values['RASA_PORT']}" in upstreams["insurebot_rasa"], path.name
        assert f"127.0.0.1:{values['WEB_PORT']}" in upstreams["insurebot_web"], path.name
        assert values["RASA_URL"].endswith(values["RASA_PORT"]) and values["WEB_URL"].endswith(values["WEB_PORT"])
        assert values["ACTION_SERVER_URL"] == f"http://127.0.0.1:{values['ACTION_PORT']}/webhook"
    # Rasa's HTTP API is never routed: only the channel webhooks go to Rasa
    rasa_locations = re.findall(r"location ([^{]+)\{[^}]*proxy_pass http://insurebot_rasa", conf)
    assert rasa_locations and all("webhooks" in loc for loc in rasa_locations), rasa_locations


def test_production_start_refuses_the_templates_empty_secrets():
    env = {**os.environ, **env_file(DEPLOY / "env" / "insurebot.env"), **env_file(DEPLOY / "env" / "replica-1.env")}
    proc = subprocess.run([str(APP_PYTHON), "-m", "common.stack", "exec", "--dry-run", "web"], env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "refusing to start" in proc.stderr and "RASA_AUTH_TOKEN" in proc.stderr and "TRANSCRIPT_KEYS" in proc.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_unit_syntax(tmp_path):
    """systemd's own parser (instances of the templates; missing binaries/paths outside this machine
    are expected, unknown keys or sections are not)."""
    for unit in UNITS:
        name = unit.name.replace("@.", "@1.")
        (tmp_path / name).write_text(unit.read_text(encoding="utf-8"), encoding="utf-8")
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
                          capture_output=True, text=True, timeout=60)
    problems = [line for line in (proc.stderr + proc.stdout).splitlines()
                if re.search(r"Unknown (key|section|lvalue)|Invalid|Failed to parse|bad-setting", line)]
    assert not problems, "\n".join(problems)
