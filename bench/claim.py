"""Benchmark: the claim alone, in process, on PostgreSQL (steadier than HTTP on a busy box).

    PYTHONPATH=$PWD python bench/claim.py [--prompts 1500] [--claims 400]
        [--database ranklab_bench_claim]

Creates a throwaway database, seeds a set of `--prompts` ready prompts (4 candidates,
k = 3), then times `assignment.claim_next_task` for a fresh annotator, rolled back each
time so every claim does the same work: median and p95 wall time, CPU time per claim in
this process, and PostgreSQL's own execution time for the claim's first statement
(`_SET_AND_ANNOTATOR`, EXPLAIN ANALYZE). Run it from two checkouts to compare code.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from annotate import fresh_database  # noqa: E402

import app.models  # noqa: E402,F401
from app.accounts import service as accounts  # noqa: E402
from app.annotation import assignment  # noqa: E402
from app.core.db import make_engine  # noqa: E402
from tests.support.annotation_seed import seed_prompt_set  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=1500)
    parser.add_argument("--claims", type=int, default=400)
    parser.add_argument("--database", default="ranklab_bench_claim")
    args = parser.parse_args()
    admin_url = os.environ.get(
        "RANKLAB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    url = fresh_database(admin_url, args.database)
    items = [(f"Question {i}?", [f"Answer {i}.{j}" for j in range(4)]) for i in range(args.prompts)]
    set_id = seed_prompt_set(url, name="Claim bench", items=items)
    engine = make_engine(url)
    with Session(engine) as session:
        user = accounts.add_user(session, username="claimer", password="x" * 12, role="annotator")
        session.commit()
        walls, cpus = [], []
        for _ in range(args.claims):
            w0, c0 = time.perf_counter(), time.process_time()
            task = assignment.claim_next_task(session, prompt_set_id=set_id, annotator=user)
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
            assert task is not None
            session.rollback()
        first = assignment._SET_AND_ANNOTATOR.params(set_id=set_id, who=user.id)
        sql = first.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
        explain = session.connection().exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        plan = explain.scalar_one()[0]
        session.rollback()
    engine.dispose()
    q = statistics.quantiles(walls, n=100, method="inclusive")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{args.claims} claims on {args.prompts} prompts: wall p50 {q[49] * 1000:.2f} ms, "
        f"p95 {q[94] * 1000:.2f} ms; CPU {statistics.mean(cpus) * 1000:.2f} ms/claim; "
        f"first statement executes in {plan['Execution Time']:.3f} ms "
        f"(plan {plan['Planning Time']:.3f} ms); load average {load}"
    )


if __name__ == "__main__":
    main()
