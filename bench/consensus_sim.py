"""Benchmark: majority vs reliability-weighted consensus on simulated annotators.

Simulated prompts have a known true order; simulated annotators are good (true order plus
noise), random, or adversarial (reversed order plus noise), mixed as in
tests/support/consensus_simulation.MIXES. Both consensus methods run through the export's
own code (fit on the stored comparisons, RowBuilder's consensus rows); the figure is the
share of true (better, worse) pairs a method's rows state the right way round.

    PYTHONPATH=$PWD python bench/consensus_sim.py --seeds 5
    PYTHONPATH=$PWD python bench/consensus_sim.py --seeds 0 --large 200000 1000000

`--large N ...` also times, on a PostgreSQL set with about N comparisons filled in SQL
(tests/factories/export_bulk.py): reading the comparisons into arrays and the fit alone;
`annotator_reliability` cold (read + fit + store in the database cache) and cached; and
whole consensus exports (in process, JSONL), majority next to reliability with the fit
cold and cached, in rows/s with this process's peak RSS. `--synthetic N ...` times the
fit alone on a synthetic table (`--crowdkit`: crowd-kit's fit of it too, and the largest
skill difference).
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
    from sqlalchemy import delete
    from sqlalchemy.orm import Session, sessionmaker

    from app.analytics import fit_cache
    from app.analytics.reliability import fit_reliability
    from app.core.db import make_engine
    from app.exports import service
    from app.exports.source import comparison_table
    from tests.db.test_export_streaming import PeakRss
    from tests.factories.export_bulk import bulk_fill
    from tests.support import databases

    os.environ.setdefault(
        databases.POSTGRES_URL_ENV, "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    url = databases.migrated(databases.create_postgres_database(DATABASE))
    engine = make_engine(url)

    def plan_for(method: str) -> service.ExportPlan:
        with make_session() as session:
            return service.parse_options(
                session,
                {"format": "consensus", "prompt_set": [prompt_set_id]}
                | {"consensus_method": method},
                secret_key="bench" * 10,
                default_model="smollm2",
            )

    def forget_fits() -> None:
        with Session(engine) as session:
            session.execute(delete(fit_cache.AnalyticsCache))
            session.commit()

    def export(method: str, label: str) -> float:
        plan = plan_for(method)
        baseline = psutil.Process().memory_info().rss
        rows = 0
        start = time.perf_counter()
        with PeakRss(os.getpid()) as rss:
            for chunk in service.export_chunks(make_session, plan):
                rows += chunk.count(b"\n")
        seconds = time.perf_counter() - start
        fit_cache.wait_for_writes()
        print(
            f"  export consensus_method={method} ({label}): {rows:,} rows in {seconds:.1f} s"
            f" = {rows / seconds:,.0f} rows/s; RSS peak +{(rss.peak - baseline) / MIB:.0f} MiB"
        )
        return rows / seconds

    try:
        start = time.perf_counter()
        prompt_set_id = bulk_fill(engine, comparisons=comparisons)
        print(f"filled {comparisons:,} comparisons in {time.perf_counter() - start:.1f} s")
        make_session = sessionmaker(engine)
        options = plan_for("reliability").options
        with make_session() as session:
            start = time.perf_counter()
            table = comparison_table(session, options)
            read = time.perf_counter() - start
        baseline = psutil.Process().memory_info().rss
        start, cpu = time.perf_counter(), time.process_time()
        with PeakRss(os.getpid()) as rss:
            fit_reliability(table)
        fit, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(
            f"  read {len(table):,} comparisons into arrays {read:.2f} s; fit {fit:.2f} s wall,"
            f" {cpu:.2f} s CPU (RSS peak +{(rss.peak - baseline) / MIB:.0f} MiB)"
        )
        forget_fits()
        for label in ("cold", "cached"):
            with make_session() as session:
                start = time.perf_counter()
                service.annotator_reliability(session, plan_for("reliability"))
                print(f"  annotator_reliability ({label}): {time.perf_counter() - start:.2f} s")
            fit_cache.wait_for_writes()
        export("majority", "first: warms the caches, not compared")
        forget_fits()
        cold = export("reliability", "cold: fit inside")
        cached = export("reliability", "cached fit")
        majority = export("majority", "again")
        print(
            f"  reliability / majority rows/s: cold {cold / majority:.2f}, cached"
            f" {cached / majority:.2f}"
        )
    finally:
        engine.dispose()
        databases.drop_postgres_database(DATABASE)


def synthetic_fit(comparisons: int, crowdkit: bool) -> None:
    """The fit alone on a synthetic table shaped like issue 13's million-comparison
    measurement: 30 annotators (12 good, 9 random, 9 adversarial), 3 per prompt, 4
    candidates; with `crowdkit`, crowd-kit's pandas fit of the same table next to it."""
    import numpy as np

    from app.analytics.reliability import MAX_ITERATIONS, TOLERANCE, VoteTable

    rng = np.random.default_rng(0)
    prompts = comparisons // 18  # 3 annotators x 6 pairs
    accuracy = np.array([0.94] * 12 + [0.5] * 9 + [0.06] * 9)
    annotators = np.stack([rng.choice(30, 3, replace=False) for _ in range(prompts)]).ravel()
    annotators = np.repeat(annotators, 6)
    low = np.tile(np.array([0, 0, 0, 1, 1, 2]), prompts * 3)
    high = np.tile(np.array([1, 2, 3, 2, 3, 3]), prompts * 3)
    base = np.repeat(np.arange(prompts) * 4, 18)
    right = rng.random(len(annotators)) < accuracy[annotators]  # truth: the lower id is better
    chosen = base + np.where(right, low, high)
    rejected = base + np.where(right, high, low)
    table = VoteTable()
    table.add_columns(annotators + 1, chosen, rejected)
    start, cpu = time.perf_counter(), time.process_time()
    fitted = fit_reliability(table)
    print(
        f"synthetic {len(table):,} comparisons: fit {time.perf_counter() - start:.2f} s wall,"
        f" {time.process_time() - cpu:.2f} s CPU"
    )
    if crowdkit:
        import pandas as pd
        from crowdkit.aggregation import OneCoinDawidSkene

        workers, tasks, labels = table.columns()
        frame = pd.DataFrame({"task": tasks, "worker": workers, "label": labels})
        start = time.perf_counter()
        skills = OneCoinDawidSkene(n_iter=MAX_ITERATIONS, tol=TOLERANCE).fit(frame).skills_
        gap = max(abs(fitted[int(w)].skill - v) for w, v in skills.items())
        print(
            f"  crowd-kit OneCoinDawidSkene: {time.perf_counter() - start:.1f} s;"
            f" largest skill difference {gap:.1e}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5, help="simulations per mix (0: none)")
    parser.add_argument(
        "--large", type=int, nargs="*", default=[], help="comparisons of the export timings"
    )
    parser.add_argument(
        "--synthetic", type=int, nargs="*", default=[], help="comparisons of a synthetic fit"
    )
    parser.add_argument("--crowdkit", action="store_true", help="also fit with crowd-kit")
    args = parser.parse_args()
    if args.seeds:
        simulation_table(args.seeds)
    for comparisons in args.synthetic:
        synthetic_fit(comparisons, args.crowdkit)
    for comparisons in args.large:
        large_export(comparisons)
    return 0


if __name__ == "__main__":
    sys.exit(main())
