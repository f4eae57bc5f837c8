"""Import 100,000 JSONL prompts into a fresh database: time and peak memory.

    PYTHONPATH=$PWD python bench/import_prompts.py [--rows 100000] [--database-url URL]

Without --postgres it uses a throwaway SQLite file. Memory: the growth of the process RSS
high-water mark over the RSS before the import, and with --trace the Python heap peak
(tracemalloc; that run is slower, so time and heap come from separate runs).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import psutil
from sqlalchemy import create_engine, make_url, text

from app.core import migrate
from app.core.db import make_engine, make_sessionmaker
from app.prompt_sets.imports import import_prompts
from app.prompt_sets.models import PromptSet


def write_file(path: Path, rows: int, with_candidates: bool) -> None:
    with path.open("w") as f:
        for i in range(rows):
            row: dict = {
                "id": f"p{i}",
                "prompt": f"Question {i}: explain topic {i} briefly.",
                "metadata": {"source": "bench", "n": i},
            }
            if with_candidates:
                row["candidates"] = [
                    {"text": f"A{i}", "model": "m1"},
                    {"text": f"B{i}", "model": "m2"},
                ]
            f.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--postgres",
        default="",
        help="a PostgreSQL server URL: the bench creates and drops its own database there",
    )
    parser.add_argument("--candidates", action="store_true", help="rows carry 2 candidates each")
    parser.add_argument(
        "--trace", action="store_true", help="measure the Python heap peak (tracemalloc, slower)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = _create_postgres(args.postgres) if args.postgres else f"sqlite:///{tmp}/bench.db"
        try:
            run(url, Path(tmp), args)
        finally:
            if args.postgres:
                _drop_postgres(args.postgres)


BENCH_DATABASE = "ranklab_bench_import"


def _admin_engine(server_url: str):  # type: ignore[no-untyped-def]
    return create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")


def _create_postgres(server_url: str) -> str:
    _drop_postgres(server_url)
    admin = _admin_engine(server_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{BENCH_DATABASE}"'))
    admin.dispose()
    return make_url(server_url).set(database=BENCH_DATABASE).render_as_string(False)


def _drop_postgres(server_url: str) -> None:
    admin = _admin_engine(server_url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
    admin.dispose()


def run(url: str, tmp: Path, args: argparse.Namespace) -> None:
    if True:
        migrate.upgrade(url)
        engine = make_engine(url)
        data = tmp / "prompts.jsonl"
        write_file(data, args.rows, args.candidates)
        with make_sessionmaker(engine)() as session:
            ps = PromptSet(name=f"bench-{time.time_ns()}")
            session.add(ps)
            session.commit()
            rss_before = psutil.Process().memory_info().rss
            if args.trace:
                tracemalloc.start()
            started = time.perf_counter()
            with data.open("rb") as f:
                result = import_prompts(session, prompt_set_id=ps.id, file=f, filename=data.name)
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] if args.trace else None
            tracemalloc.stop()
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        engine.dispose()
        print(f"database: {url.split('://')[0]}")
        print(f"file: {args.rows} rows, {data.stat().st_size / 1e6:.1f} MB")
        print(
            f"imported: {result.imported}, candidates: {result.candidates}, "
            f"skipped: {result.skipped_duplicates}"
        )
        print(f"time: {elapsed:.1f} s ({result.imported / elapsed:,.0f} prompts/s)")
        if peak is not None:
            print(f"tracemalloc peak during import: {peak / 1e6:.1f} MB (timing includes tracing)")
        print(
            f"RSS before: {rss_before / 1e6:.0f} MB, peak RSS growth during the import: "
            f"{max(0, peak_rss - rss_before) / 1e6:.0f} MB"
        )


if __name__ == "__main__":
    main()
