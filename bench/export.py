"""Benchmark: `pairs` JSONL export rate and server memory vs PostgreSQL's own COPY.

Fills a fresh PostgreSQL database with N comparisons (SQL generate_series), starts the
real `ranklab serve`, downloads `/api/v1/exports/pairs` while sampling the server's RSS,
then runs `COPY (SELECT row_to_json(...) FROM <the same joins>) TO STDOUT` as the ceiling.

    PYTHONPATH=$PWD python bench/export.py --comparisons 1000000

(PostgreSQL from RANKLAB_TEST_POSTGRES_URL, default postgres@127.0.0.1:5432.)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402
from sqlalchemy import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app.core.db import make_engine  # noqa: E402
from tests.db.test_export_streaming import PeakRss  # noqa: E402
from tests.factories.accounts import make_token, make_user  # noqa: E402
from tests.factories.export_bulk import bulk_fill  # noqa: E402
from tests.support import databases  # noqa: E402
from tests.support.server import ranklab_env, start_server  # noqa: E402

DATABASE = "ranklab_bench_export"
COPY_SQL = """
COPY (
  SELECT row_to_json(t) FROM (
    SELECT p.text AS prompt, c1.text AS chosen, c2.text AS rejected, p.id AS prompt_id,
           p.external_id, c1.id AS chosen_id, c2.id AS rejected_id,
           c1.model AS chosen_model, c2.model AS rejected_model, a.annotator_id AS annotator,
           cmp.margin::float AS margin, cmp.created_at
    FROM comparison cmp
    JOIN annotation a ON a.id = cmp.annotation_id
    JOIN prompt p ON p.id = cmp.prompt_id
    JOIN candidate c1 ON c1.id = cmp.chosen_candidate_id
    JOIN candidate c2 ON c2.id = cmp.rejected_candidate_id
    WHERE p.prompt_set_id = {ps}
  ) t
) TO STDOUT
"""


def copy_ceiling(url: str, prompt_set_id: int) -> tuple[int, int, float]:
    import psycopg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    rows = size = 0
    start = time.perf_counter()
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(COPY_SQL.format(ps=int(prompt_set_id))) as copy:
            for block in copy:
                size += len(block)
                rows += bytes(block).count(b"\n")
    return rows, size, time.perf_counter() - start


def export_over_http(server_url: str, pid: int, token: str, prompt_set_id: int) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{server_url}/api/v1/exports/pairs?prompt_set={prompt_set_id}"
    warm = httpx.get(url + "&split=test&test_fraction=0.001", headers=headers, timeout=120)
    warm.raise_for_status()
    baseline = psutil.Process(pid).memory_info().rss
    rows = size = 0
    start = time.perf_counter()
    with PeakRss(pid) as rss, httpx.stream("GET", url, headers=headers, timeout=3600) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
            rows += chunk.count(b"\n")
    elapsed = time.perf_counter() - start
    return {"rows": rows, "bytes": size, "seconds": elapsed, "baseline": baseline, "peak": rss.peak}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--comparisons", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    os.environ.setdefault(
        databases.POSTGRES_URL_ENV, "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )

    url = databases.migrated(databases.create_postgres_database(DATABASE))
    engine = make_engine(url)
    start = time.perf_counter()
    prompt_set_id = bulk_fill(engine, comparisons=args.comparisons)
    print(f"filled {args.comparisons:,} comparisons in {time.perf_counter() - start:.1f} s")
    with Session(engine) as session:
        token = make_token(session, make_user(session, role="researcher", username="bench"))
    engine.dispose()

    with tempfile.TemporaryDirectory() as tmp:
        env = ranklab_env(Path(tmp) / "data", url, RANKLAB_RUN_WORKER_IN_PROCESS="false")
        server = start_server(env, Path(tmp) / "server.log")
        try:
            result = export_over_http(server.base_url, server.process.pid, token, prompt_set_id)
        finally:
            server.stop()
    copy_rows, copy_bytes, copy_seconds = copy_ceiling(url, prompt_set_id)
    if not args.keep:
        databases.drop_postgres_database(DATABASE)

    export_rate = result["rows"] / result["seconds"]
    copy_rate = copy_rows / copy_seconds
    mb = 2**20
    print(
        f"ranklab pairs JSONL over HTTP: {result['rows']:,} rows, {result['bytes'] / mb:.0f} MiB "
        f"in {result['seconds']:.1f} s = {export_rate:,.0f} rows/s"
    )
    print(
        f"  server RSS: baseline {result['baseline'] / mb:.0f} MiB, "
        f"peak {result['peak'] / mb:.0f} MiB (+{(result['peak'] - result['baseline']) / mb:.0f})"
    )
    print(
        f"PostgreSQL COPY row_to_json: {copy_rows:,} rows, {copy_bytes / mb:.0f} MiB "
        f"in {copy_seconds:.1f} s = {copy_rate:,.0f} rows/s"
    )
    print(
        f"export / COPY rate: {export_rate / copy_rate:.2f} (target >= 0.5); "
        f"peak memory target < 300 MiB: {'met' if result['peak'] < 300 * mb else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
