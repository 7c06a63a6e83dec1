"""Schemathesis over the web service's OpenAPI: no generated request may cause a 5xx.

The real app from web.main's factory, in process (ASGI), on a temporary SQLite var dir; every
request carries an admin session (Bearer), so the role checks let the bodies through to the
handlers; the knowledge index is the session's real one. Each operation gets positive (schema-valid) and negative (schema-violating) examples,
bounded so the run itself stays well under a minute (~20 s for ~480 cases on the 2-core machine). /console/logout is left out: it would end the
session the other requests use. /healthz may answer 503 (Rasa is not running): that is its
contract, not a crash.
"""
from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from common.settings import REPO_ROOT, load_settings
from web.auth import create_user, login
from web.main import create_app
from web.state import AppState

pytestmark = pytest.mark.timeout(300)

POSITIVE, NEGATIVE = 6, 4          # examples per operation and mode
SKIPPED = {("POST", "/console/logout")}
EXPECTED_503 = {("GET", "/healthz")}
PASSWORD = "schemathesis-admin-pw"


@pytest.fixture(scope="module")
def api(tmp_path_factory, knowledge_index) -> Any:
    var = tmp_path_factory.mktemp("schemathesis-var")
    app_settings = load_settings({"INSUREBOT_VAR_DIR": str(var),
                                  "EMBEDDING_CACHE": str(REPO_ROOT / "var" / "cache" / "embeddings.sqlite"),
                                  # nothing listens here: probes fail fast instead of waiting
                                  "RASA_URL": "http://127.0.0.1:9", "ACTION_SERVER_URL": "http://127.0.0.1:9/webhook"})
    state = AppState.create(app_settings)
    state.knowledge._index = knowledge_index   # the session's real index (as tests/web/test_knowledge_api.py)
    state.start = lambda: None
    create_user(state.engine, "st-admin", PASSWORD, "admin")
    token = login(state.engine, "st-admin", PASSWORD)[0]
    app = create_app(app_settings, state=state)
    return schemathesis.openapi.from_asgi("/openapi.json", app), {"Authorization": f"Bearer {token}"}


def _server_errors(operation: Any, headers: dict, mode: GenerationMode, examples: int) -> tuple[int, list[str]]:
    """Run ``examples`` cases of one operation; (cases run, failure descriptions)."""
    seen: list[int] = []
    failures: list[str] = []
    key = (operation.method.upper(), operation.path)

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        seen.append(1)
        try:
            response = case.call(headers=dict(headers))    # call() adds to the dict it gets
        except Exception as exc:        # the in-process client re-raises what would be a 500
            if len(failures) < 3:
                failures.append(f"{key[0]} {key[1]} [{mode.value}] -> unhandled {type(exc).__name__}: "
                                f"{str(exc).splitlines()[0][:200]} | {case.as_curl_command()[:300]}")
            return
        if key in EXPECTED_503 and response.status_code == 503:
            return
        try:
            case.validate_response(response, checks=[not_a_server_error], headers=dict(headers))
        except (Exception, BaseExceptionGroup) as exc:   # collect, keep going: one report per operation
            if len(failures) < 3:
                failures.append(f"{key[0]} {key[1]} [{mode.value}] -> {response.status_code}: "
                                f"{str(exc).splitlines()[0][:200]} | {case.as_curl_command()[:300]}")

    try:
        run()
    except Unsatisfiable:               # negative mode for an operation without parameters or body
        pass
    return len(seen), failures


def test_no_operation_answers_a_server_error(api):
    schema, headers = api
    started = time.monotonic()
    operations, cases, failures = 0, 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        operations += 1
        for mode, examples in ((GenerationMode.POSITIVE, POSITIVE), (GenerationMode.NEGATIVE, NEGATIVE)):
            ran, found = _server_errors(operation, headers, mode, examples)
            cases += ran
            failures += found
    elapsed = time.monotonic() - started
    print(f"schemathesis: {operations} operations, {cases} cases, {elapsed:.1f} s, {len(failures)} failures")
    assert operations >= 50 and cases >= operations * 3
    assert not failures, "\n".join(failures)
