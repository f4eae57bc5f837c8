"""Benchmark: bias and spam signals (app.analytics.signals) over a large set.

    PYTHONPATH=$PWD python bench/signals.py [--annotations 200000] [--reuse] [--keep]
    PYTHONPATH=$PWD python bench/signals.py --submit-cpu 600

Fills `ranklab_bench_signals_<checkout>` (PostgreSQL, RANKLAB_TEST_POSTGRES_URL's server) with about
`--annotations` annotations in SQL (tests/factories/export_bulk.py: three annotators,
four candidates per prompt, shuffled rankings) and rebuilds the reporting tallies and the
signal tallies (issue 22: the latter is the migration's back-fill), then measures in this
process, each twice:

- the full recomputation's streamed read alone (loaders.iter_signal_rows, rows consumed);
- the people page's context (app.admin.user_pages.users_context: annotator stats, every
  signal, the "as of" status) *cold*: right after new annotations, when every set's speed
  baseline is stale (simulated by deleting the stored baselines: the tallies are always
  current), so the page starts the background refresh and does not wait for it;
- the background refresh of the speed baseline (one pass over the set's rows), alone;
- the people page's context and a person's page context *warm* (baselines current);
- `reports.annotator_signals` alone, warm.

Wall and CPU seconds, and this process's peak RSS over its RSS before (sampled every 50 ms).
`--reuse` keeps an existing filled database; `--keep` does not drop it at the end.

`--submit-cpu N`: N lease+submit cycles in process on a small fresh PostgreSQL database
(as bench/reporting.py measured issue 16's tallies), process CPU of `submit_annotation`
with the signal tallies' hook and with it replaced by a no-op.
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
from app.accounts import service as accounts  # noqa: E402
from app.admin import user_pages  # noqa: E402
from app.analytics import loaders, reports, speed_baselines  # noqa: E402
from app.annotation import assignment, signal_tallies, submission, tallies  # noqa: E402
from app.annotation.models import Annotation  # noqa: E402
from app.core.db import make_engine  # noqa: E402
from app.prompt_sets.models import PromptSet  # noqa: E402
from tests.db.test_export_streaming import PeakRss  # noqa: E402
from tests.factories.export_bulk import PAIRS_PER_ANNOTATION, bulk_fill  # noqa: E402
from tests.factories.prompt_sets import make_prompt, make_prompt_set  # noqa: E402
from tests.support import databases  # noqa: E402

DATABASE = f"ranklab_bench_signals_{databases.worker_suffix()}"
SUBMIT_DATABASE = f"ranklab_bench_signals_submit_{databases.worker_suffix()}"


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
    start = time.perf_counter()
    with engine.begin() as conn:
        signal_tallies.rebuild(conn)
    print(f"signal tallies rebuilt in {time.perf_counter() - start:.1f} s", flush=True)
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


def wait_for_refresh() -> None:
    """Let a background refresh the page started finish before the next measurement."""
    import threading

    for thread in threading.enumerate():
        if thread.name.startswith("speed-baseline"):
            thread.join()


def pages(session: Session, set_ids: list[int], person: int) -> None:
    for _ in range(2):
        session.execute(speed_baselines.SpeedBaseline.__table__.delete())
        session.commit()
        measure("people page context, cold (baselines stale)", lambda: people(session))
        wait_for_refresh()
        session.execute(speed_baselines.SpeedBaseline.__table__.delete())
        session.commit()
        measure(
            "background baseline refresh, alone",
            lambda: [speed_baselines.refresh(session, s).timed for s in set_ids],
        )
        session.commit()
        measure("people page context, warm", lambda: people(session))
        measure("person page context, warm", lambda: person_page(session, person))
        measure("annotator_signals alone, warm", lambda: len(reports.annotator_signals(session)))
        session.rollback()


def people(session: Session) -> str:
    context = user_pages.users_context(session)
    return f"{len(context['signals'])} annotators, as of {context['signals_as_of']}"


def person_page(session: Session, person: int) -> str:
    context = user_pages.user_context(session, person)
    return f"{len(context['signals'].signals)} signals"


def submit_cpu(submits: int) -> None:
    """Process CPU per submit_annotation call, with and without the signal tallies' hook."""
    url = databases.migrated(databases.create_postgres_database(SUBMIT_DATABASE))
    engine = make_engine(url)
    real = signal_tallies.record_annotation
    hook_cpu = [0.0]

    def timed_hook(*args, **kwargs):  # type: ignore[no-untyped-def]
        t0 = time.process_time()
        real(*args, **kwargs)
        hook_cpu[0] += time.process_time() - t0

    try:
        for label, hook in (("without signal tallies", None), ("with signal tallies", timed_hook)):
            with Session(engine, expire_on_commit=False) as session:
                ps = make_prompt_set(session, prompts=0, annotators_per_prompt=3)
                for i in range(submits // 3 + 1):
                    make_prompt(session, ps, text=f"{label} {i}", models=["ours", "base"])
                who_all = [
                    accounts.add_user(
                        session,
                        username=f"{label.replace(' ', '-')}-{i}",
                        password=None,
                        role="annotator",
                    )
                    for i in range(3)
                ]
                session.commit()
                signal_tallies.record_annotation = hook or (lambda *a, **k: None)  # type: ignore[assignment]
                cpu, done = 0.0, 0
                for i in range(submits):
                    who = who_all[i % 3]
                    task = assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=who)
                    if task is None:
                        break
                    data = submission.SubmissionInput(
                        assignment_id=task.assignment_id,
                        ranking=[[c.id] for c in task.candidates],
                        idempotency_key=task.idempotency_key,
                        order_changed=True,
                    )
                    t0 = time.process_time()
                    submission.submit_annotation(session, annotator=who, data=data)
                    cpu += time.process_time() - t0
                    done += 1
                print(
                    f"submit_annotation {label}: {cpu / done * 1000:.3f} ms process CPU per "
                    f"submit over {done} submits (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
                if hook:
                    print(
                        f"  of which the signal tallies' hook itself: "
                        f"{hook_cpu[0] / done * 1000:.3f} ms per submit",
                        flush=True,
                    )
    finally:
        signal_tallies.record_annotation = real
        engine.dispose()
        databases.drop_postgres_database(SUBMIT_DATABASE)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--annotations", type=int, default=200_000)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--submit-cpu", type=int, default=0, help="only the submit CPU part")
    args = parser.parse_args()
    if args.submit_cpu:
        for _ in range(2):
            submit_cpu(args.submit_cpu)
        return
    url = build(args.annotations, args.reuse)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            total = session.scalar(select(func.count()).select_from(Annotation))
            print(f"{total:,} annotations; load average {os.getloadavg()}", flush=True)
            measure("stream only", lambda: sum(1 for _ in loaders.iter_signal_rows(session)))
            set_ids = list(session.scalars(select(PromptSet.id)))
            person = session.scalar(select(Annotation.annotator_id).limit(1))
            assert person is not None
            session.rollback()
            pages(session, set_ids, person)
    finally:
        engine.dispose()
        if not args.keep:
            databases.drop_postgres_database(DATABASE)


if __name__ == "__main__":
    main()
