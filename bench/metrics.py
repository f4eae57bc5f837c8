"""Benchmark: the cost of /metrics (issue 23).

    PYTHONPATH=$PWD python bench/metrics.py [--comparisons 1000000] [--reuse] [--keep]

1. Middleware CPU: `--calls` requests through RequestMetrics around a trivial ASGI app,
   against the same app bare; the difference per request is what every request pays
   (the annotation hot path's budget is ~5 ms of CPU per item).
2. Scrape at scale: fills `ranklab_bench_metrics` (PostgreSQL) with `--comparisons`
   comparisons (tests/factories/export_bulk.py) plus their tallies, some open leases and
   queued jobs, then times the database collector (app.monitoring.collector) `--scrapes`
   times: p50 and max wall time per scrape.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import app.models  # noqa: E402,F401
from app.annotation import tallies  # noqa: E402
from app.core import migrate  # noqa: E402
from app.core.db import make_engine  # noqa: E402
from app.core.request_metrics import RequestMetrics  # noqa: E402
from app.monitoring.collector import DatabaseMetrics  # noqa: E402
from tests.factories.export_bulk import bulk_fill  # noqa: E402
from tests.support import databases  # noqa: E402

NAME = "ranklab_bench_metrics"


class _Route:
    path = "/api/v1/assignments/{assignment_id}/submit"


async def _bare(scope: dict, receive: object, send: object) -> None:
    scope["route"] = _Route
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]


async def _noop_send(message: dict) -> None:
    return None


def middleware_cpu(calls: int) -> tuple[float, float]:
    """CPU microseconds per request: (bare app, app behind RequestMetrics)."""

    async def run(app: object) -> float:
        started = time.process_time()
        for _ in range(calls):
            scope = {"type": "http", "method": "POST", "path": "/x"}
            await app(scope, None, _noop_send)  # type: ignore[operator]
        return (time.process_time() - started) / calls * 1e6

    bare = asyncio.run(run(_bare))
    measured = asyncio.run(run(RequestMetrics(_bare)))  # type: ignore[arg-type]
    return bare, measured


def fill(url: str, comparisons: int) -> None:
    engine = make_engine(url)
    t0 = time.perf_counter()
    bulk_fill(engine, comparisons=comparisons)
    with engine.begin() as conn:
        tallies.rebuild(conn)
        # A working day's open leases and queue: 200 leases, half of them expired.
        conn.execute(
            text(
                """UPDATE assignment SET status = 'leased',
                       lease_expires_at = leased_at + (CASE WHEN id % 2 = 0
                           THEN interval '1 hour' ELSE interval '1 second' END),
                       leased_at = now() - interval '10 minutes'
                   WHERE id IN (SELECT id FROM assignment ORDER BY id DESC LIMIT 200)"""
            )
        )
        conn.execute(
            text(
                """INSERT INTO generation_job (prompt_set_id, status, settings, generators,
                       total, done, failed, tokens_generated, cancel_requested, created_at)
                   SELECT id, 'queued', '{}', '{}', 0, 0, 0, 0, false, now()
                   FROM prompt_set"""
            )
        )
    engine.dispose()
    print(f"filled {comparisons} comparisons with tallies in {time.perf_counter() - t0:.0f} s")


def scrape_times(url: str, scrapes: int) -> list[float]:
    engine = make_engine(url)
    times = []
    with Session(engine) as session:
        for _ in range(scrapes):
            registry = CollectorRegistry(auto_describe=False)
            registry.register(DatabaseMetrics(session))
            started = time.perf_counter()
            generate_latest(registry)
            times.append(time.perf_counter() - started)
            session.rollback()
    engine.dispose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--comparisons", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    bare, measured = middleware_cpu(args.calls)
    print(
        f"middleware CPU per request: bare {bare:.1f} us, with RequestMetrics "
        f"{measured:.1f} us, added {measured - bare:.1f} us ({args.calls} calls)"
    )

    url = databases.postgres_admin_url()
    if url is None:
        sys.exit("set RANKLAB_TEST_POSTGRES_URL to a PostgreSQL server")
    if not args.reuse:
        url = databases.create_postgres_database(NAME)
        migrate.upgrade(url)
        fill(url, args.comparisons)
    else:
        url = url.rsplit("/", 1)[0] + "/" + NAME
    times = scrape_times(url, args.scrapes)
    print(
        f"database collector per scrape ({args.comparisons} comparisons): "
        f"p50 {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
        f"({args.scrapes} scrapes, first {times[0] * 1000:.1f} ms)"
    )
    if not args.keep:
        databases.drop_postgres_database(NAME)


if __name__ == "__main__":
    main()
