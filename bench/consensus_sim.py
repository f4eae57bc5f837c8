"""Benchmark: majority vs reliability-weighted consensus on simulated annotators.

Simulated prompts have a known true order; simulated annotators are good (true order plus
noise), random, or adversarial (reversed order plus noise), mixed as in
tests/support/consensus_simulation.MIXES. Both consensus methods run through the export's
own code (fit on the stored comparisons, RowBuilder's consensus rows); the figure is the
share of true (better, worse) pairs a method's rows state the right way round.

    PYTHONPATH=$PWD python bench/consensus_sim.py --seeds 5
    PYTHONPATH=$PWD python bench/consensus_sim.py --seeds 0 --large 200000

`--large N` also times a whole reliability-weighted consensus export (in process, JSONL)
of a PostgreSQL set with about N comparisons (tests/factories/export_bulk.py), next to the
majority export of the same set, with this process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from app.analytics.reliability import fit_reliability  # noqa: E402
from tests.support.consensus_simulation import MIXES, recovery, simulate, vote_table  # noqa: E402

DATABASE = "ranklab_bench_consensus"
MIB = 2**20


def estimated_skills(seed: int, mix: dict[str, float]) -> dict[str, float]:
    """Mean fitted skill per annotator kind (the known reliability, as the model sees it)."""
    sim = simulate(seed, mix)
    by_kind: dict[str, list[float]] = defaultdict(list)
    for uid, r in fit_reliability(vote_table(sim)).items():
        by_kind[sim.kinds[uid]].append(r.skill)
    return {kind: statistics.mean(skills) for kind, skills in sorted(by_kind.items())}


def simulation_table(seeds: int) -> None:
    print(f"{'mix':<18} {'seed':>4} {'pairs':>6} {'majority':>9} {'reliability':>12} {'fit s':>6}")
    for name, mix in MIXES.items():
        gains = []
        for seed in range(1, seeds + 1):
            r = recovery(simulate(seed, mix))
            gains.append(r.reliability - r.majority)
            print(
                f"{name:<18} {seed:>4} {r.pairs:>6} {r.majority:>9.3f} {r.reliability:>12.3f}"
                f" {r.fit_seconds:>6.2f}"
            )
        skills = ", ".join(f"{k} {v:.2f}" for k, v in estimated_skills(1, mix).items())
        print(f"  mean gain {statistics.mean(gains):+.3f}; fitted skill by kind (seed 1): {skills}")


def large_export(comparisons: int) -> None:
    from sqlalchemy.orm import Session, sessionmaker

    from app.core.db import make_engine
    from app.exports import service
    from tests.db.test_export_streaming import PeakRss
    from tests.factories.export_bulk import bulk_fill
    from tests.support import databases

    os.environ.setdefault(
        databases.POSTGRES_URL_ENV, "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    url = databases.migrated(databases.create_postgres_database(DATABASE))
    engine = make_engine(url)
    try:
        start = time.perf_counter()
        prompt_set_id = bulk_fill(engine, comparisons=comparisons)
        print(f"filled {comparisons:,} comparisons in {time.perf_counter() - start:.1f} s")
        make_session = sessionmaker(engine)
        for method in ("majority", "reliability"):
            with make_session() as session:
                plan = service.parse_options(
                    session,
                    {"format": "consensus", "prompt_set": [prompt_set_id]}
                    | {"consensus_method": method},
                    secret_key="bench" * 10,
                    default_model="smollm2",
                )
            baseline = psutil.Process().memory_info().rss
            rows = 0
            start = time.perf_counter()
            with PeakRss(os.getpid()) as rss:
                for chunk in service.export_chunks(make_session, plan):
                    rows += chunk.count(b"\n")
            seconds = time.perf_counter() - start
            print(
                f"consensus_method={method}: {rows:,} rows in {seconds:.1f} s; RSS baseline "
                f"{baseline / MIB:.0f} MiB, peak {rss.peak / MIB:.0f} MiB"
                f" (+{(rss.peak - baseline) / MIB:.0f})"
            )
        with Session(engine) as session:
            plan.reliability = None
            start = time.perf_counter()
            service.annotator_reliability(session, plan)
            print(f"  of which the reliability fit alone: {time.perf_counter() - start:.1f} s")
    finally:
        engine.dispose()
        databases.drop_postgres_database(DATABASE)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5, help="simulations per mix (0: none)")
    parser.add_argument("--large", type=int, default=0, help="comparisons of the export timing")
    args = parser.parse_args()
    if args.seeds:
        simulation_table(args.seeds)
    if args.large:
        large_export(args.large)
    return 0


if __name__ == "__main__":
    sys.exit(main())
