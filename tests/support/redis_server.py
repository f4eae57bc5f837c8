"""A real, throwaway redis-server on a free port, for the shared rate-limit tests.

Without the binary those tests skip locally; RANKLAB_REQUIRE_REDIS=1 (set by .ci/run, whose
`make test` installs Debian's redis-server) makes a missing binary a failure instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.server import free_port

REQUIRE_REDIS_ENV = "RANKLAB_REQUIRE_REDIS"


@dataclass
class RedisServer:
    url: str
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def redis_binary_or_skip() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get(REQUIRE_REDIS_ENV, "") not in ("", "0"):
            pytest.fail(f"redis-server is not installed but {REQUIRE_REDIS_ENV} is set")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return binary


def start_redis(folder: Path) -> RedisServer:
    binary = redis_binary_or_skip()
    port = free_port()
    process = subprocess.Popen(
        # In memory only, on loopback, in the test's folder: nothing outlives the test.
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return RedisServer(f"redis://127.0.0.1:{port}", process)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not answer PING")
