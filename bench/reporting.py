"""Benchmark: the reporting pages and endpoints at a million comparisons (issue #16), and the
app CPU the tallies add to a submit.

    PYTHONPATH=$PWD python bench/reporting.py [--comparisons 1000000] [--reuse] [--keep]

1. Fills `ranklab_bench_reporting` (PostgreSQL) with `--comparisons` comparisons in SQL
   (tests/factories/export_bulk.py, as bench/export.py) at the schema *before* the tallies,
   then runs the tallies migration, timing its back-fill. `--reuse` keeps an existing,
   already upgraded database (it takes minutes to build); `--keep` does not drop it.
2. Starts `ranklab serve`, and for each page and endpoint of the issue's table sends
   `--requests` requests from `--clients` concurrent clients (logged-in browser session for
   the pages, bearer token for the API): p50/p95 latency, and the server's peak RSS over
   its RSS at rest.
3. Submit CPU: `--submits` lease+submit cycles in process on a small fresh database, timing
   the process CPU of `submit_annotation` with the tallies' hook and with it replaced by a
   no-op (the code before issue #16).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import app.models  # noqa: E402,F401
from app.accounts import service as accounts  # noqa: E402
from app.annotation import assignment, submission, tallies  # noqa: E402
from app.core import migrate  # noqa: E402
from app.core.db import make_engine  # noqa: E402
from app.prompt_sets.models import PromptSet  # noqa: E402
from tests.db.test_export_streaming import PeakRss  # noqa: E402
from tests.factories.export_bulk import bulk_fill  # noqa: E402
from tests.factories.prompt_sets import make_prompt, make_prompt_set  # noqa: E402
from tests.support import databases  # noqa: E402
from tests.support.http import login  # noqa: E402
from tests.support.server import ranklab_env, start_server  # noqa: E402

DATABASE = "ranklab_bench_reporting"
SUBMIT_DATABASE = "ranklab_bench_reporting_submit"
TALLIES_REVISION = "5e1b7a2c9d40"
PASSWORD = "bench-password-123"


def build(comparisons: int) -> tuple[str, float]:
    """A database filled before the tallies existed, then migrated: (url, back-fill s)."""
    url = databases.create_postgres_database(DATABASE)
    script = ScriptDirectory.from_config(migrate.alembic_config(url))
    before = script.get_revision(TALLIES_REVISION).down_revision
    assert isinstance(before, str)
    migrate.upgrade(url, before)
    engine = make_engine(url)
    start = time.perf_counter()
    bulk_fill(engine, comparisons=comparisons)
    print(f"filled {comparisons:,} comparisons in {time.perf_counter() - start:.0f} s", flush=True)
    engine.dispose()
    start = time.perf_counter()
    migrate.upgrade(url)
    backfill = time.perf_counter() - start
    print(f"tallies migration with back-fill: {backfill:.1f} s", flush=True)
    return url, backfill


def users(url: str) -> tuple[int, str]:
    """(the bulk set's id, an admin's API token); the admin `bench-admin` logs in by form."""
    engine = make_engine(url)
    with Session(engine) as session:
        set_id = session.scalar(select(PromptSet.id).where(PromptSet.name == "bulk"))
        user = accounts.get_user_by_username(session, "bench-admin")
        if user is None:
            user = accounts.add_user(
                session, username="bench-admin", password=PASSWORD, role="admin"
            )
            session.flush()
        token = accounts.create_api_token(session, user=user, name="bench")[1]
        session.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    assert set_id is not None
    return set_id, token


def requests_table(set_id: int) -> list[tuple[str, str, bool]]:
    """(name, path, is a page that needs the browser session)."""
    return [
        ("dashboard page", f"/admin/prompt-sets/{set_id}", True),
        ("annotators page", f"/admin/prompt-sets/{set_id}/annotators", True),
        ("research preview", f"/research?prompt_set={set_id}&format=pairs", True),
        ("stats API", f"/api/v1/prompt-sets/{set_id}/stats", False),
        ("dashboard API", f"/api/v1/prompt-sets/{set_id}/dashboard", False),
        ("annotators API", f"/api/v1/prompt-sets/{set_id}/annotators", False),
    ]


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def timed_gets(clients: list[httpx.Client], path: str, n: int) -> list[float]:
    """n GETs of path, as many at a time as there are clients: each request's seconds."""

    def one(i: int) -> float:
        t0 = time.perf_counter()
        r = clients[i % len(clients)].get(path)
        elapsed = time.perf_counter() - t0
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        return elapsed

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(one, range(n)))


def serve_and_measure(url: str, set_id: int, token: str, n: int, clients: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = ranklab_env(Path(tmp) / "data", url, RANKLAB_RUN_WORKER_IN_PROCESS="false")
        server = start_server(env, Path(tmp) / "server.log")
        try:
            proc = psutil.Process(server.process.pid)
            rest = proc.memory_info().rss
            sessions = []
            for _ in range(clients):
                c = httpx.Client(base_url=server.base_url, timeout=120)
                login(c, "bench-admin", PASSWORD)
                sessions.append(c)
            api = [
                httpx.Client(
                    base_url=server.base_url,
                    timeout=120,
                    headers={"Authorization": f"Bearer {token}"},
                )
                for _ in range(clients)
            ]
            mb = 2**20
            # One untimed request each first: module imports (numpy, choix), template
            # compilation and the first, inline bootstrap of the strength intervals.
            for _name, path, page in requests_table(set_id):
                (sessions if page else api)[0].get(path).raise_for_status()
            warm = proc.memory_info().rss
            print(
                f"server RSS at rest: {rest / mb:.0f} MiB, after one request each "
                f"{warm / mb:.0f} MiB; load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            overall_peak = rest
            for name, path, page in requests_table(set_id):
                with PeakRss(server.process.pid) as rss:
                    times = timed_gets(sessions if page else api, path, n)
                overall_peak = max(overall_peak, rss.peak)
                print(
                    f"{name:<18} {path:<48} p50 {pct(times, 50):7.0f} ms  "
                    f"p95 {pct(times, 95):7.0f} ms  peak RSS {rss.peak / mb:.0f} MiB  "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            print(
                f"server peak RSS {overall_peak / mb:.0f} MiB "
                f"(+{(overall_peak - rest) / mb:.0f} MiB over rest, "
                f"+{(overall_peak - warm) / mb:.0f} MiB over warm)",
                flush=True,
            )
            for c in sessions + api:
                c.close()
        finally:
            server.stop()


def submit_cpu(submits: int) -> None:
    """Process CPU per submit_annotation call, with and without the tallies' hook."""
    url = databases.migrated(databases.create_postgres_database(SUBMIT_DATABASE))
    engine = make_engine(url)
    real = tallies.record_change
    try:
        for label, hook in (("without tallies", None), ("with tallies", real)):
            with Session(engine, expire_on_commit=False) as session:
                ps = make_prompt_set(session, prompts=0, annotators_per_prompt=3)
                for i in range(submits // 3 + 1):
                    make_prompt(session, ps, text=f"{label} {i}", models=["ours", "base"])
                people = [
                    accounts.add_user(
                        session,
                        username=f"{label.replace(' ', '-')}-{i}",
                        password=None,
                        role="annotator",
                    )
                    for i in range(3)
                ]
                session.commit()
                tallies.record_change = hook or (lambda *a, **k: None)  # type: ignore[assignment]
                cpu = 0.0
                done = 0
                for i in range(submits):
                    who = people[i % 3]
                    task = assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=who)
                    if task is None:
                        break
                    data = submission.SubmissionInput(
                        assignment_id=task.assignment_id,
                        ranking=[[c.id] for c in task.candidates],
                        idempotency_key=task.idempotency_key,
                    )
                    t0 = time.process_time()
                    submission.submit_annotation(session, annotator=who, data=data)
                    cpu += time.process_time() - t0
                    done += 1
                print(
                    f"submit_annotation {label}: {cpu / done * 1000:.2f} ms process CPU per "
                    f"submit over {done} submits (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    finally:
        tallies.record_change = real
        engine.dispose()
        databases.drop_postgres_database(SUBMIT_DATABASE)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--comparisons", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--submits", type=int, default=600)
    parser.add_argument("--reuse", action="store_true", help="reuse the existing database")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--skip-submit", action="store_true", help="no submit CPU part")
    args = parser.parse_args()
    os.environ.setdefault(
        databases.POSTGRES_URL_ENV, "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    if args.reuse:
        url = databases.postgres_admin_url()
        assert url is not None
        from sqlalchemy import make_url

        url = make_url(url).set(database=DATABASE).render_as_string(hide_password=False)
        migrate.upgrade(url)
    else:
        url, _ = build(args.comparisons)
    set_id, token = users(url)
    serve_and_measure(url, set_id, token, args.requests, args.clients)
    if not args.keep:
        databases.drop_postgres_database(DATABASE)
    if not args.skip_submit:
        submit_cpu(args.submits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
