"""What one audit row adds to an action: the time of app.core.audit.record() (one INSERT
in the action's own transaction, with the database's clock), per backend.

    PYTHONPATH=$PWD python bench/audit_record.py --url postgresql+psycopg://.../db [--n 2000]
    PYTHONPATH=$PWD python bench/audit_record.py --url sqlite:///tmp/bench.db

The database must be migrated (`ranklab db upgrade`, or a test database). Everything is
written inside one transaction that is rolled back at the end, so the log is unchanged
(the append-only triggers refuse DELETE; a rollback is the only way to leave no trace).
Prints the median and 95th percentile per call of record() + flush.
"""

from __future__ import annotations

import argparse
import statistics
import time

from sqlalchemy.orm import Session

from app.core import audit
from app.core.audit import Target
from app.core.db import make_engine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    engine = make_engine(args.url)
    times = []
    with Session(engine) as session:
        for i in range(args.n):
            start = time.perf_counter()
            audit.record(
                session,
                None,
                "user.expert_changed",
                Target("user", i),
                audit.diff({"is_expert": False}, {"is_expert": True}),
                actor_name="bench",
            )
            session.flush()
            times.append(time.perf_counter() - start)
        session.rollback()
    engine.dispose()
    times.sort()
    p95 = times[int(0.95 * len(times)) - 1]
    print(
        f"{engine.dialect.name}: record() n={args.n} "
        f"median {statistics.median(times) * 1e3:.3f} ms, p95 {p95 * 1e3:.3f} ms"
    )


if __name__ == "__main__":
    main()
