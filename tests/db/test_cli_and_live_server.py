"""The real CLI and the real server over real HTTP (no TestClient)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.http import login
from tests.support.server import free_port, ranklab_env, run_cli, start_server


@pytest.fixture(params=["sqlite", "postgresql"])
def live_env(request, tmp_path, fresh_url_for):
    return ranklab_env(tmp_path / "data", fresh_url_for(request.param))


@pytest.fixture
def fresh_url_for(tmp_path, request):
    def make(backend: str) -> str:
        if backend == "sqlite":
            return ""  # the embedded default: <data_dir>/ranklab.db
        return request.getfixturevalue("fresh_postgres_url")

    return make


def test_demo_credentials_log_in_against_a_running_server(live_env, tmp_path) -> None:
    demo = run_cli(["demo"], live_env)
    assert demo.returncode == 0, demo.stderr
    password = re.search(r"admin\s+password: (\S+)", demo.stdout).group(1)
    server = start_server(live_env, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=server.base_url) as http:
            response = login(http, "admin", password)
            assert response.status_code == 303 and response.headers["location"] == "/admin"
            page = http.get("/admin")
            assert page.status_code == 200 and "admin · admin" in page.text
            assert http.get("/docs").status_code == 200
            assert http.get("/openapi.json").json()["info"]["title"] == "Ranklab"
    finally:
        server.stop()


def test_users_create_and_token_from_the_cli(live_env, tmp_path) -> None:
    assert run_cli(["db", "upgrade"], live_env).returncode == 0
    created = run_cli(
        ["users", "create", "ada", "--role", "researcher", "--password-stdin"],
        live_env,
        input="long-enough-password\n",
    )
    assert created.returncode == 0, created.stderr
    assert "created researcher 'ada'" in created.stdout
    token = run_cli(["users", "token", "ada"], live_env).stdout.strip()
    assert token.startswith("rk_")
    server = start_server(live_env, tmp_path / "server.log")
    try:
        me = httpx.get(server.base_url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["username"] == "ada"
    finally:
        server.stop()
    assert "GET /api/v1/me" not in server.log()  # no access log unless asked for


def test_serve_access_log_flag_logs_each_request(live_env, tmp_path) -> None:
    server = start_server(live_env, tmp_path / "server.log", ["--access-log"])
    try:
        assert httpx.get(server.base_url + "/login").status_code == 200
    finally:
        server.stop()
    assert '"GET /login HTTP/1.1" 200' in server.log()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["users", "create", "bob", "--password-stdin"], "short\n", "Password is too short"),
        (
            ["users", "create", "bad name!", "--password-stdin"],
            "long-enough-password\n",
            "is not allowed",
        ),
        (["users", "token", "ghost"], None, "User 'ghost' does not exist"),
    ],
)
def test_cli_reports_bad_input_clearly(live_env, args, stdin, message) -> None:
    run_cli(["db", "upgrade"], live_env)
    result = run_cli(args, live_env, input=stdin)
    assert result.returncode == 2
    assert message in result.stderr


def test_serve_no_migrate_refuses_a_schema_that_is_behind(tmp_path) -> None:
    env = ranklab_env(tmp_path / "data")  # a brand-new SQLite file: nothing migrated yet
    result = run_cli(["serve", "--no-migrate", "--port", str(free_port())], env)
    assert result.returncode == 2
    assert "run `ranklab db upgrade` first" in result.stderr
