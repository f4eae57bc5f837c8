"""A large export streams: the real server's memory stays flat while 200,000 comparisons
go out (PostgreSQL, server-side cursor, `ranklab serve` in a subprocess)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import psutil
from sqlalchemy.orm import Session

from app.core.db import make_engine
from tests.factories.accounts import make_token, make_user
from tests.factories.export_bulk import bulk_fill
from tests.support.server import ranklab_env, start_server

COMPARISONS = 200_000
# "A few tens of MB": Python's allocator keeps some freed arenas, so allow some slack.
MAX_GROWTH_MB = 40


class PeakRss:
    """Samples a process's resident memory in a thread while a download runs."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_exporting_200k_comparisons_keeps_server_memory_flat(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    engine = make_engine(fresh_postgres_url)
    try:
        prompt_set_id = bulk_fill(engine, comparisons=COMPARISONS)
        with Session(engine) as session:
            token = make_token(session, make_user(session, role="researcher"))
    finally:
        engine.dispose()
    server = start_server(
        ranklab_env(tmp_path / "data", fresh_postgres_url, RANKLAB_RUN_WORKER_IN_PROCESS="false"),
        tmp_path / "server.log",
    )
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{server.base_url}/api/v1/exports/pairs?prompt_set={prompt_set_id}"
    try:
        # Warm up: imports, the chat template and connection pools load on the first export.
        warm = httpx.get(url + "&split=test&test_fraction=0.01", headers=headers, timeout=60)
        assert warm.status_code == 200, warm.text
        process = psutil.Process(server.process.pid)
        baseline = process.memory_info().rss
        lines = 0
        with (
            PeakRss(server.process.pid) as rss,
            httpx.stream("GET", url, headers=headers, timeout=300) as response,
        ):
            assert response.status_code == 200
            for line in response.iter_lines():
                lines += bool(line)
        growth_mb = (rss.peak - baseline) / 2**20
    finally:
        server.stop()
    assert lines >= COMPARISONS
    print(f"baseline {baseline / 2**20:.0f} MB, peak {rss.peak / 2**20:.0f} MB")
    assert growth_mb < MAX_GROWTH_MB, f"server memory grew by {growth_mb:.0f} MB"
