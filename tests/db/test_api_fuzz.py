"""Schemathesis against the live app on PostgreSQL: generated requests (integers past 2**31,
NUL characters, lone surrogates, nulls, wrong types) for every operation, as an admin.

Bounded to fit CI (a few examples per operation, well under two minutes on 2 cores). It
fails on any 5xx from any operation, and for the JSON API also on responses whose status,
content type or body break the OpenAPI document.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.core.db import make_engine
from tests.factories.accounts import make_token, make_user
from tests.factories.prompt_sets import make_prompt_set
from tests.support.server import LiveServer, ranklab_env, start_server

EXAMPLES = "8"
API_CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


@pytest.fixture
def fuzz_target(fresh_postgres_url: str, tmp_path: Path):
    engine = make_engine(fresh_postgres_url)
    with Session(engine, expire_on_commit=False) as session:
        # Fillers first, so the admin and its token don't have the ids 1 that generated
        # paths hit most (revoking the fuzzer's own token would end the run early).
        for _ in range(3):
            make_user(session)
        make_prompt_set(session, prompts=3)
        admin = make_user(session, role="admin")
        for _ in range(20):
            make_token(session, admin)
        token = make_token(session, admin)
    engine.dispose()
    env = ranklab_env(tmp_path / "data", fresh_postgres_url, RANKLAB_API_RATE_LIMIT_PER_TOKEN="")
    server = start_server(env, tmp_path / "server.log")
    yield server, token
    server.stop()


def _schemathesis(server: LiveServer, token: str, *args: str) -> subprocess.CompletedProcess:
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{server.base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        EXAMPLES,
        "--seed",
        "10",
        "--workers",
        "2",
        "--request-timeout",
        "30",
        # The coverage phase trips an internal error of schemathesis on our schema.
        "--phases",
        "examples,fuzzing",
        "--generation-database",
        "none",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_no_generated_request_gets_a_server_error(fuzz_target) -> None:
    server, token = fuzz_target
    result = _schemathesis(server, token, "--checks", "not_a_server_error")
    log = server.log()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:] + log[-4000:]
    assert "unhandled error" not in log, log[-4000:]


def test_the_json_api_answers_as_its_openapi_document_says(fuzz_target) -> None:
    server, token = fuzz_target
    result = _schemathesis(server, token, "--checks", API_CHECKS, "--include-path-regex", "^/api/")
    # On failure, show the server's traceback too: schemathesis shows only the response.
    log = server.log()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:] + log[-4000:]
