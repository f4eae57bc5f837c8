"""Run the real `ranklab serve` in a subprocess on a free port, for HTTP and browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ranklab_env(data_dir: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["RANKLAB_DATA_DIR"] = str(data_dir)
    env["RANKLAB_DATABASE_URL"] = database_url or ""
    env.setdefault("HF_HUB_OFFLINE", "1")
    # Live servers in tests don't generate unless a test asks (the demo queues a job).
    env.setdefault("RANKLAB_RUN_WORKER_IN_PROCESS", "false")
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str], input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )


@dataclass
class LiveServer:
    base_url: str
    process: subprocess.Popen
    env: dict[str, str]
    log_path: Path
    log_file: IO[str]
    extra: dict = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


class PortTaken(RuntimeError):
    """The picked port was bound by someone else before the server got it."""


def start_server(
    env: dict[str, str], log_path: Path, args: list[str] | None = None, port: int | None = None
) -> LiveServer:
    """`port` reuses a stopped server's address (a restart that clients keep talking to).
    Without it a free port is picked; under `pytest -n` another worker can bind that port
    between the pick and the server's bind, so such a start is retried on a new port."""
    for attempt in range(3):
        try:
            return _start_server(env, log_path, args or [], port or free_port())
        except PortTaken:
            if port is not None or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _start_server(env: dict[str, str], log_path: Path, args: list[str], port: int) -> LiveServer:
    started_at = log_path.stat().st_size if log_path.exists() else 0
    log = open(log_path, "a")  # noqa: SIM115  (closed when the process ends)
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), *args],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(f"http://127.0.0.1:{port}", process, env, log_path, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            output = server.log()[started_at:]
            if "address already in use" in output.lower():
                raise PortTaken(f"port {port} was taken:\n{output}")
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            healthy = httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            healthy = False
        # Another worker's server on this port answers too, until ours fails to bind.
        if healthy and _listens_on(process.pid, port):
            return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"server did not become healthy:\n{server.log()}")


def _listens_on(pid: int, port: int) -> bool:
    try:
        parent = psutil.Process(pid)
        processes = [parent, *parent.children(recursive=True)]
        return any(
            conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
            for proc in processes
            for conn in proc.net_connections(kind="tcp")
        )
    except psutil.Error:
        return False
