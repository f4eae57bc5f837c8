"""Benchmark: reading judge rankings (issue 13) on a large PostgreSQL set.

Fills a fresh database with N people's comparisons (tests/factories/export_bulk), adds one
listwise judge version that ranked every prompt (in SQL), then times, in process:
- the dashboard's judge quality figures (app.judges.quality.judge_quality);
- the pairs JSONL export with origin=human (today's rows) and origin=all (plus the
  judge's derived pairs), both through the fast JSONL path;
- the lookup the lease path adds per shown item (app.judges.suggestions.suggested_order),
  with the judge not suggesting (the default) and suggesting.

    PYTHONPATH=$PWD python bench/judge_report.py --comparisons 300000
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

from app.core.db import make_engine, make_sessionmaker  # noqa: E402
from app.exports import service  # noqa: E402
from app.exports.schemas import ExportQuery  # noqa: E402
from app.judges.quality import judge_quality  # noqa: E402
from app.judges.suggestions import suggested_order  # noqa: E402
from tests.factories.export_bulk import bulk_fill  # noqa: E402
from tests.support import databases  # noqa: E402

DATABASE = "ranklab_bench_judges"
JUDGE_SQL = [
    """INSERT INTO judge (prompt_set_id, name, version, mode, settings, rubric,
           suggest_to_annotators, is_current, created_at)
       VALUES (:ps, 'bench', 1, 'listwise', '{}', 'Rank by helpfulness.', false, true, now())""",
    """INSERT INTO judge_ranking (judge_id, prompt_id, status, ranking, seconds_spent,
           created_at)
       SELECT j.id, p.id, 'ranked',
           (SELECT jsonb_agg(jsonb_build_array(c.id) ORDER BY c.id)
            FROM candidate c WHERE c.prompt_id = p.id), 1.0, now()
       FROM prompt p JOIN judge j ON j.prompt_set_id = p.prompt_set_id
       WHERE p.prompt_set_id = :ps""",
    "ANALYZE",
]


def export_rate(sessionmaker, session: Session, prompt_set_id: int, origin: str) -> tuple:
    query = ExportQuery(prompt_set=[str(prompt_set_id)], origin=origin)
    plan = service.plan_export(
        session, "pairs", query, secret_key="b" * 48, default_model="smollm2"
    )
    session.rollback()
    assert service.fast_jsonl(plan.options)
    rows = size = 0
    start = time.perf_counter()
    for chunk in service.export_chunks(sessionmaker, plan):
        size += len(chunk)
        rows += chunk.count(b"\n")
    return rows, size, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--comparisons", type=int, default=300_000)
    args = parser.parse_args()
    os.environ.setdefault(
        databases.POSTGRES_URL_ENV, "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    url = databases.migrated(databases.create_postgres_database(DATABASE))
    engine = make_engine(url)
    try:
        ps = bulk_fill(engine, comparisons=args.comparisons)
        with engine.begin() as conn:
            for statement in JUDGE_SQL:
                conn.execute(text(statement), {"ps": ps})
        sessionmaker = make_sessionmaker(engine)
        with sessionmaker() as session:
            prompts = session.scalar(text(f"SELECT count(*) FROM prompt WHERE prompt_set_id={ps}"))
            start = time.perf_counter()
            [row] = judge_quality(session, ps)
            seconds = time.perf_counter() - start
            print(
                f"judge quality figures: {prompts:,} prompts, {args.comparisons:,} comparisons "
                f"in {seconds:.2f} s (agreement {row['human_agreement']['rate']:.3f} over "
                f"{row['human_agreement']['total']:,} pairs)"
            )
            ids = list(session.scalars(text(f"SELECT id FROM prompt WHERE prompt_set_id={ps}")))
            for suggest in (False, True):
                session.execute(text(f"UPDATE judge SET suggest_to_annotators = {suggest}"))
                start = time.perf_counter()
                found = sum(suggested_order(session, ps, pid) is not None for pid in ids[:2000])
                ms = (time.perf_counter() - start) / min(len(ids), 2000) * 1000
                print(
                    f"suggested-order lookup (suggesting={suggest}): {ms:.3f} ms each, "
                    f"{found} found"
                )
            session.rollback()
            for origin in ("human", "all"):
                rows, size, secs = export_rate(sessionmaker, session, ps, origin)
                print(
                    f"pairs JSONL origin={origin}: {rows:,} rows, {size / 2**20:.0f} MiB "
                    f"in {secs:.1f} s = {rows / secs:,.0f} rows/s"
                )
    finally:
        engine.dispose()
        databases.drop_postgres_database(DATABASE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
