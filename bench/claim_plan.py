"""Benchmark: the claim statement alone on PostgreSQL, its plan, buffers and time.

    PYTHONPATH=$PWD python bench/claim_plan.py [--prompts 3000] [--full 2000] [--runs 300]

Seeds a throwaway database (`ranklab_bench_claim` on RANKLAB_BENCH_POSTGRES_URL) with one
set of `--prompts` ready prompts (k = 3) whose first `--full` prompts already have three
submitted annotations, so the claim walks past every full prompt before it finds a free
seat (the case the claim's single index scan is built for). Then prints the claim's
EXPLAIN (ANALYZE, BUFFERS) and the mean time of `--runs` executions, each in its own
rolled-back transaction. Shared buffers hit are the load-independent figure: run it
against two checkouts (PYTHONPATH=<checkout>) to compare their claims on the same data.
Only columns every version has are seeded, so an older checkout runs it too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import event, insert, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from annotate import fresh_database  # noqa: E402

import app.models  # noqa: E402,F401
from app.accounts.models import User  # noqa: E402
from app.annotation.assignment import _CLAIM_REGULAR  # noqa: E402
from app.annotation.models import Assignment  # noqa: E402
from app.core.db import make_engine, utcnow  # noqa: E402
from app.prompt_sets.content import content_hash  # noqa: E402
from app.prompt_sets.models import Prompt, PromptSet  # noqa: E402


def seed(url: str, prompts: int, full: int) -> tuple[int, int]:
    engine = make_engine(url)
    now = utcnow()
    with engine.begin() as conn:
        set_id = conn.execute(
            insert(PromptSet)
            .values(name="bench", candidates_per_prompt=4, annotators_per_prompt=3)
            .returning(PromptSet.id)
        ).scalar_one()
        users = [
            conn.execute(
                insert(User).values(username=f"claim{n}", role="annotator").returning(User.id)
            ).scalar_one()
            for n in range(4)
        ]
        conn.execute(
            insert(Prompt),
            [
                {
                    "prompt_set_id": set_id,
                    "text": f"Prompt {i}",
                    "content_hash": content_hash(f"Prompt {i}", None),
                    "candidates_ready": True,
                    "meta": {},
                }
                for i in range(prompts)
            ],
        )
        ids = conn.scalars(select(Prompt.id).order_by(Prompt.id).limit(full)).all()
        conn.execute(
            insert(Assignment),
            [
                {
                    "prompt_id": pid,
                    "annotator_id": who,
                    "status": "submitted",
                    "leased_at": now,
                    "lease_expires_at": now + dt.timedelta(minutes=30),
                    "finished_at": now,
                }
                for pid in ids
                for who in users[:3]
            ],
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return set_id, users[3]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=3000)
    parser.add_argument("--full", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--database", default="ranklab_bench_claim")
    args = parser.parse_args()
    admin = os.environ.get(
        "RANKLAB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    url = fresh_database(admin, args.database)
    set_id, who = seed(url, args.prompts, args.full)
    params = {"set_id": set_id, "who": who, "now": utcnow(), "k": 3, "passed": []}
    engine = make_engine(url)
    with engine.connect() as conn:
        seen: list[tuple[str, object]] = []

        def capture(*args: object) -> None:
            seen.append((str(args[2]), args[3]))

        event.listen(conn, "before_cursor_execute", capture)
        conn.execute(_CLAIM_REGULAR, params)  # the SQL and parameters the driver gets
        event.remove(conn, "before_cursor_execute", capture)
        conn.rollback()
        sql, bound = seen[-1]
        plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", bound).scalars().all()
        conn.rollback()
        print("\n".join(plan))
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            row = conn.execute(_CLAIM_REGULAR, params).first()
            times.append((time.perf_counter() - start) * 1000)
            conn.rollback()
        assert row is not None and row[0] > 0
    engine.dispose()
    print(
        f"claim over {args.full} full prompts of {args.prompts}: mean {statistics.mean(times):.2f}"
        f" ms, p50 {statistics.median(times):.2f} ms over {args.runs} runs;"
        f" load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
