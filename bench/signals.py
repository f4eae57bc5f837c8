"""Benchmark: bias and spam signals (app.analytics.signals) over a large set.

    PYTHONPATH=$PWD python bench/signals.py [--annotations 200000] [--reuse] [--keep]

Fills `ranklab_bench_signals_<checkout>` (PostgreSQL, RANKLAB_TEST_POSTGRES_URL's server) with about
`--annotations` annotations in SQL (tests/factories/export_bulk.py: three annotators,
four candidates per prompt, shuffled rankings) and rebuilds the tallies, then measures in
this process, each twice:

- the streamed read alone (app.analytics.loaders.iter_signal_rows, rows consumed);
- the whole report (app.analytics.reports.annotator_signals: tallies, gold answers, the
  stream and every signal), which the people page and the annotator page run per view and
  an export with exclude_flagged_annotators runs once; then again, when the streamed
  signals are kept (no annotation added since) and only the agreement is read afresh.

Wall and CPU seconds, and this process's peak RSS over its RSS before (sampled every 50 ms).
`--reuse` keeps an existing filled database; `--keep` does not drop it at the end.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from sqlalchemy import func, make_url, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import app.models  # noqa: E402,F401
from app.analytics import loaders, reports  # noqa: E402
from app.annotation import tallies  # noqa: E402
from app.annotation.models import Annotation  # noqa: E402
from app.core.db import make_engine  # noqa: E402
from tests.db.test_export_streaming import PeakRss  # noqa: E402
from tests.factories.export_bulk import PAIRS_PER_ANNOTATION, bulk_fill  # noqa: E402
from tests.support import databases  # noqa: E402

DATABASE = f"ranklab_bench_signals_{databases.worker_suffix()}"


def build(annotations: int, reuse: bool) -> str:
    if reuse:
        admin = make_url(databases.postgres_admin_url())
        return admin.set(database=DATABASE).render_as_string(hide_password=False)
    url = databases.migrated(databases.create_postgres_database(DATABASE))
    engine = make_engine(url)
    start = time.perf_counter()
    bulk_fill(engine, comparisons=annotations * PAIRS_PER_ANNOTATION)
    print(f"filled in {time.perf_counter() - start:.0f} s", flush=True)
    start = time.perf_counter()
    with engine.begin() as conn:
        tallies.rebuild(conn)
    print(f"tallies rebuilt in {time.perf_counter() - start:.0f} s", flush=True)
    engine.dispose()
    return url


def measure(name: str, work) -> None:  # type: ignore[no-untyped-def]
    gc.collect()
    process = psutil.Process(os.getpid())
    before = process.memory_info().rss
    wall, cpu = time.perf_counter(), time.process_time()
    with PeakRss(os.getpid()) as peak:
        result = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    grew = max(peak.peak - before, 0) / 2**20
    print(f"{name}: {wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS +{grew:.0f} MiB -> {result}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--annotations", type=int, default=200_000)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    url = build(args.annotations, args.reuse)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            total = session.scalar(select(func.count()).select_from(Annotation))
            print(f"{total:,} annotations; load average {os.getloadavg()}", flush=True)
            for _ in range(2):
                reports._streamed.clear()  # a cold report each round
                measure(
                    "stream only",
                    lambda: sum(1 for _ in loaders.iter_signal_rows(session)),
                )
                for name in ("annotator_signals", "annotator_signals again (kept)"):
                    measure(name, lambda: f"{len(reports.annotator_signals(session))} annotators")
                session.rollback()
    finally:
        engine.dispose()
        if not args.keep:
            databases.drop_postgres_database(DATABASE)


if __name__ == "__main__":
    main()
