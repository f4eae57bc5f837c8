"""The production shape, run from a built wheel (issue 15).

This is what `docker-compose.yml` runs, as plain processes, because this machine has no
Docker engine: build the wheel, install it (not editable) into a fresh virtual environment
outside the checkout, and from a folder that is not the checkout run the `migrate` step
(`ranklab db upgrade`), the `app` (`ranklab serve --no-migrate`) and a `worker` against a
fresh PostgreSQL database. Nothing here may find a template, a static file or a migration
by looking into the source tree.

The new environment gets its dependencies (torch, transformers, ...) from the test
environment through a plain path line in a .pth file, so the test downloads nothing. A
plain path line adds the folder to sys.path without running the .pth files inside it, so
the test environment's editable install of Ranklab stays invisible.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import databases
from tests.support.http import login
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.model]


@dataclass
class Installed:
    bin: Path
    workdir: Path
    env: dict[str, str]

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.bin / "ranklab"), *args],
            env=self.env,
            cwd=self.workdir,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self, *args: str, log: Path) -> subprocess.Popen:
        with log.open("w") as out:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                [str(self.bin / "ranklab"), *args],
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )


def _install_wheel(tmp: Path) -> Path:
    wheels = tmp / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(ROOT)],
        check=True, capture_output=True, cwd=tmp, timeout=300,
    )  # fmt: skip
    (wheel,) = wheels.glob("ranklab-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(
        subprocess.check_output([str(venv / "bin" / "python"), "-c", purelib], text=True).strip()
    )
    (site / "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
         "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return venv / "bin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    if databases.postgres_admin_url() is None:
        pytest.skip(f"set {databases.POSTGRES_URL_ENV} to run the wheel test")
    tmp = tmp_path_factory.mktemp("wheel")
    bin_dir = _install_wheel(tmp)
    workdir = tmp / "elsewhere"
    workdir.mkdir()
    name = f"ranklab_wheel_{databases.worker_suffix()}"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp),
        "HF_HUB_OFFLINE": "1",
        "RANKLAB_DATA_DIR": str(tmp / "data"),
        "RANKLAB_DATABASE_URL": databases.create_postgres_database(name),
        "RANKLAB_RUN_WORKER_IN_PROCESS": "false",
    }
    yield Installed(bin_dir, workdir, env)
    databases.drop_postgres_database(name)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(base_url: str, process: subprocess.Popen, log: Path) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited:\n{log.read_text()}"
        try:
            response = httpx.get(base_url + "/healthz", timeout=1)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"server never became healthy:\n{log.read_text()}")


def test_the_installed_package_is_the_one_that_runs(installed: Installed) -> None:
    where = subprocess.run(
        [str(installed.bin / "python"), "-c", "import app, app.core.package_files as f; "
         "print(app.__file__); print(f.TEMPLATES_DIR); print(f.MIGRATIONS_DIR)"],
        env=installed.env, cwd=installed.workdir, capture_output=True, text=True, check=True,
    )  # fmt: skip
    venv = str(installed.bin.parent)
    for line in where.stdout.split():
        assert line.startswith(venv), f"{line} is not inside the new environment"
        assert not line.startswith(str(ROOT)), f"{line} comes from the source tree"


def test_version_comes_from_the_package_metadata(installed: Installed) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    result = installed.run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ranklab {pyproject['project']['version']}"


def test_migrate_serve_and_work_from_the_wheel(installed: Installed, tmp_path: Path) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    # The app refuses to serve a database that was never migrated.
    refused = installed.run("serve", "--no-migrate", "--port", str(free_port()))
    assert refused.returncode != 0 and "ranklab db upgrade" in refused.stderr

    # The `migrate` service.
    upgrade = installed.run("db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    current = installed.run("db", "current")
    revisions = dict(part.split(": ") for part in current.stdout.strip().split("  "))
    assert revisions["current"] == revisions["head"], current.stdout + current.stderr
    created = installed.run(
        "users", "create", "boss", "--role", "admin", "--password-stdin",
        input="a-long-enough-password\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    token = installed.run("users", "token", "boss").stdout.strip()
    bearer = {"Authorization": f"Bearer {token}"}

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve_log, worker_log = tmp_path / "serve.log", tmp_path / "worker.log"
    server = installed.start("serve", "--no-migrate", "--port", str(port), log=serve_log)
    worker = installed.start("worker", "--poll", "0.5", log=worker_log)
    try:
        health = _wait_healthy(base, server, serve_log).json()
        assert health == {"ok": True, "database": "ok", "version": version}
        with httpx.Client(base_url=base, timeout=30) as http:
            page = http.get("/login")
            assert page.status_code == 200 and 'name="password"' in page.text
            css = http.get("/static/css/app.css")
            assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
            assert http.get("/api/v1/prompt-sets", headers=bearer).json() == []
            assert login(http, "boss", "a-long-enough-password").headers["location"] == "/admin"
            assert http.get("/admin").status_code == 200

            prompt_set = http.post(
                "/api/v1/prompt-sets",
                headers=bearer,
                json={"name": "wheel", "candidates_per_prompt": 2,
                      "generation": {"max_new_tokens": 8, "temperature": 0.7}},
            )  # fmt: skip
            assert prompt_set.status_code == 201, prompt_set.text
            set_id = prompt_set.json()["id"]
            rows = json.dumps({"prompt": "Name a colour."}) + "\n"
            imported = http.post(
                f"/api/v1/prompt-sets/{set_id}/imports",
                headers=bearer,
                files={"file": ("p.jsonl", rows.encode(), "application/jsonl")},
            )
            assert imported.json()["imported"] == 1, imported.text
            job = http.post(f"/api/v1/prompt-sets/{set_id}/generation-jobs", headers=bearer)
            assert job.status_code == 201, job.text

            # The `worker` service takes the job and writes the candidates.
            deadline = time.monotonic() + 240
            progress = job.json()
            job_url = f"/api/v1/generation-jobs/{progress['id']}"
            while progress["status"] not in ("done", "failed", "cancelled"):
                assert time.monotonic() < deadline, f"stuck: {progress}\n{worker_log.read_text()}"
                assert worker.poll() is None, worker_log.read_text()
                time.sleep(1)
                progress = http.get(job_url, headers=bearer).json()
            assert progress["status"] == "done", progress
            prompts = http.get(
                f"/api/v1/prompt-sets/{set_id}/prompts", params={"include": "candidates"},
                headers=bearer,
            ).json()  # fmt: skip
            (prompt,) = prompts["items"]
            assert len(prompt["candidates"]) == 2
            assert all(c["text"].strip() for c in prompt["candidates"])
    finally:
        _stop(worker)
        _stop(server)
