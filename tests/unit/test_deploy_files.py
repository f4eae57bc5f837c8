"""The Dockerfile, docker-compose.yml and docs/deploy.md describe one shape (issue 15).

No Docker engine runs here, so the compose file is checked against the Compose
Specification's JSON schema (vendored by check-jsonschema, read offline), and its commands
are pinned to the ones tests/db/test_wheel_install.py runs from the built wheel.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = (ROOT / "Dockerfile").read_text()
DEPLOY_DOC = (ROOT / "docs" / "deploy.md").read_text()

# The three processes of the production shape, as the wheel test runs them.
MIGRATE = ["ranklab", "db", "upgrade"]
SERVE = ["ranklab", "serve", "--no-migrate"]
WORKER = ["ranklab", "worker"]


def test_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(COMPOSE)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_commands_the_wheel_test_runs() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert services["migrate"]["command"] == MIGRATE
    assert services["app"]["command"][: len(SERVE)] == SERVE
    assert services["worker"]["command"] == WORKER
    assert services["app"]["environment"]["RANKLAB_RUN_WORKER_IN_PROCESS"] == "false"


def test_compose_app_replicas_share_rate_limits_through_the_redis_service() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    app = services["app"]
    assert app["deploy"]["replicas"] >= 2
    assert app["environment"]["RANKLAB_RATE_LIMIT_STORAGE"] == "redis://redis:6379"
    assert app["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert services["redis"]["image"].startswith("redis:")
    # The shared anchor still applies: the database and the secret reach the app too.
    assert app["environment"]["RANKLAB_DATABASE_URL"].startswith("postgresql+psycopg://")


def test_deploy_doc_names_every_step_it_promises() -> None:
    for command in (MIGRATE, SERVE, WORKER):
        assert " ".join(command) in DEPLOY_DOC
    for topic in ("pg_dump", "--scale worker=", "RANKLAB_SECURE_COOKIES", "docker compose up"):
        assert topic in DEPLOY_DOC


def test_dockerfile_installs_the_built_wheel_as_a_non_root_user() -> None:
    stages = re.findall(r"^FROM ", DOCKERFILE, flags=re.M)
    assert len(stages) == 2, "a build stage and a runtime stage"
    runtime = DOCKERFILE.split("\nFROM ", 2)[2]
    assert "pip wheel" in DOCKERFILE and "ranklab-*.whl" in runtime
    assert "torch==2.13.0" in runtime and "/whl/cpu" in runtime
    # The runtime stage reads nothing from the source tree but the pinned versions.
    copies = re.findall(r"^COPY (.+)$", runtime, flags=re.M)
    assert copies == ["constraints.txt /tmp/constraints.txt", "--from=build /wheels /tmp/wheels"]
    users = re.findall(r"^USER (\S+)$", runtime, flags=re.M)
    assert users and users[-1] not in ("root", "0")


def test_grafana_dashboard_queries_only_metrics_the_app_exports() -> None:
    import json

    dashboard = json.loads((ROOT / "docs" / "grafana-ranklab.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    names = {name for expr in exprs for name in re.findall(r"\b(ranklab_[a-z_]+)", expr)}
    assert "ranklab_queue_depth" in names and "ranklab_http_requests_total" in names
    for name in names:  # each one is documented in docs/deploy.md's metrics table
        base = re.sub(r"_(bucket|total)$", "", name)
        assert base in DEPLOY_DOC, name
