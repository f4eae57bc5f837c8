"""Benchmark (issue 22, item 1): the dashboard's judge figures and the adjudication queue
at a million comparisons, against the per-view computations they replace
(tests/support/judge_queue_reference.py), and the submit CPU of the stored measure.

    PYTHONPATH=$PWD python bench/judge_figures.py [--comparisons 1000000] [--submit-cpu 600]

Fills a fresh PostgreSQL database (RANKLAB_TEST_POSTGRES_URL's server) in SQL:
tests/factories/export_bulk (3 people rank 4 candidates per prompt), candidate lengths
varied, one listwise judge that ranked every prompt (bench/judge_report.py's SQL), and an
adjudication backlog: k = 2, annotators_max = 3, every prompt at its third seat. Then runs
the migration's back-fill (tallies.rebuild_measures, figures.rebuild) and times, in process:
old and new judge figures, new ones *cold* (200 judged prompts annotated since the last
view: their rankings stale) and warm; old and new queue, first and second call.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import app.models  # noqa: E402,F401
from app.annotation import adjudication, tallies  # noqa: E402
from app.core.db import make_engine  # noqa: E402
from app.judges import figures  # noqa: E402
from app.judges.quality import judge_quality  # noqa: E402
from bench.judge_report import JUDGE_SQL  # noqa: E402
from tests.factories.export_bulk import bulk_fill  # noqa: E402
from tests.support import databases  # noqa: E402
from tests.support import judge_queue_reference as reference  # noqa: E402

DATABASE = f"ranklab_bench_judge_figures_{databases.worker_suffix()}"
BACKLOG_SQL = [
    "UPDATE candidate SET text = text || repeat('x', position * 7 + id % 5)",
    "UPDATE prompt_set SET annotators_per_prompt = 2, annotators_max = 3 WHERE id = :ps",
    "UPDATE prompt SET extra_seats = 1 WHERE prompt_set_id = :ps",
]


def timed(label: str, work):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    load = os.getloadavg()[0]
    print(f"{label}: {wall * 1000:,.0f} ms wall, {cpu * 1000:,.0f} ms CPU (load {load:.1f})")
    return result


def submit_cpu(submits: int) -> None:
    """Process CPU per submit of the new Python work (the prompt's measure) inside
    submit_annotation, as bench/signals.py times its hook."""
    from bench import signals

    real = tallies.measured
    spent = [0.0, 0]

    def timed_measure(answers):  # type: ignore[no-untyped-def]
        t0 = time.process_time()
        out = real(answers)
        spent[0] += time.process_time() - t0
        spent[1] += 1
        return out

    tallies.measured = timed_measure  # type: ignore[assignment]
    try:
        signals.submit_cpu(submits)
    finally:
        tallies.measured = real  # type: ignore[assignment]
    print(
        f"  the stored measure (Python part): {spent[0] / max(spent[1], 1) * 1000:.3f} ms per call"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--comparisons", type=int, default=1_000_000)
    parser.add_argument("--submit-cpu", type=int, default=0)
    args = parser.parse_args()
    if args.submit_cpu:
        submit_cpu(args.submit_cpu)
        return
    url = databases.migrated(databases.create_postgres_database(DATABASE))
    engine = make_engine(url)
    try:
        ps = timed("fill", lambda: bulk_fill(engine, comparisons=args.comparisons))
        with engine.begin() as conn:
            for statement in JUDGE_SQL[:2] + BACKLOG_SQL + ["ANALYZE"]:
                conn.execute(text(statement), {"ps": ps})
        with engine.begin() as conn:
            timed("back-fill: prompt measures", lambda: tallies.rebuild_measures(conn))
            timed("back-fill: judge figures", lambda: figures.rebuild(conn))
            conn.execute(text("ANALYZE"))
        with Session(engine) as session:
            n = session.scalar(text("SELECT count(*) FROM comparison"))
            print(f"{n:,} comparisons")
            old = timed(
                "judge figures, before (per view)", lambda: reference.judge_quality(session, ps)
            )
            session.rollback()
            session.execute(
                text(
                    "UPDATE judge_ranking SET figures_at = -1 WHERE id IN "
                    "(SELECT id FROM judge_ranking ORDER BY random() LIMIT 200)"
                )
            )
            session.commit()
            new = timed("judge figures, cold (200 stale)", lambda: judge_quality(session, ps))
            session.rollback()
            again = timed("judge figures, warm", lambda: judge_quality(session, ps))
            assert old == new == again, (old, new)
            session.rollback()
            before = timed("queue, before (Python per view)", lambda: reference.queue(session, ps))
            session.rollback()
            for label in ("queue, one query, first", "queue, one query, second"):
                queued = timed(label, lambda: adjudication.queue(session, prompt_set_id=ps))
                session.rollback()
            assert [q.prompt_id for q in queued] == [p for p, _ in before]
            print(f"{len(queued):,} prompts waiting; agreement {new[0]['human_agreement']}")
    finally:
        engine.dispose()
        databases.drop_postgres_database(DATABASE)


if __name__ == "__main__":
    main()
