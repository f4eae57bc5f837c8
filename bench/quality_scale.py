"""Benchmark: the quality pages and exports at a million comparisons (issue 22, item 4).

    PYTHONPATH=$PWD python bench/quality_scale.py                    # 1M comparisons
    PYTHONPATH=$PWD python bench/quality_scale.py --small            # 50k, to iterate
    PYTHONPATH=$PWD python bench/quality_scale.py --comparisons 20000  # self-check, ~1-2 min

1. Drops and recreates `ranklab_bench_quality` (PostgreSQL, the server of
   RANKLAB_TEST_POSTGRES_URL, default 127.0.0.1:5432) and fills it with bench/quality_fill.py:
   200 annotators (good, random, adversarial), gold items, escalated prompts with an
   adjudication backlog, one judge version that ranked every prompt, and every tally the
   app keeps, built by the app's own code.
2. Creates an admin and a researcher (passwords, they log in through the form) and API
   tokens for three good annotators, then starts `ranklab serve` on the database as a
   subprocess and times over HTTP, per page:
   - first: one request each right after the start (imports, templates, first caches);
   - cold: `--cold-rounds` rounds of `--submits` new annotations through the real API
     (GET /api/v1/tasks/next, POST /api/v1/annotations), then one request of each page,
     so every cache keyed on the annotations and the "as of" refreshes are invalidated;
   - warm: `--warm` requests of each page back to back;
   and the consensus export (majority, then reliability) streamed whole, in rows/s.
   The server's RSS (its process and children, psutil) is sampled every 0.2 s throughout.
3. Stops the server and drops the database (unless `--keep`), whatever happened.

Ends with one line:
`quality at scale: slowest p95 X s (page); reliability export R rows/s = F of majority;
server peak RSS +M MiB` (the peak over the RSS right after the start).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import app.models  # noqa: E402,F401
from app.accounts import service as accounts  # noqa: E402
from app.accounts.models import User  # noqa: E402
from app.core.db import make_engine  # noqa: E402
from bench import quality_fill  # noqa: E402
from tests.support import databases  # noqa: E402
from tests.support.http import login  # noqa: E402
from tests.support.server import LiveServer, ranklab_env, start_server  # noqa: E402

DATABASE = "ranklab_bench_quality"
PASSWORD = "bench-password-123"
SMALL = 50_000
MIB = 2**20
TIMEOUT = 1800.0  # one request at 1M on a loaded machine can take minutes


@dataclass
class Users:
    admin: str
    researcher: str
    annotator_tokens: list[str]
    person_id: int  # a random-kind annotator: the page an admin opens on a flag


def make_users(url: str, set_id: int) -> Users:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            for name, role in (("q-admin", "admin"), ("q-researcher", "researcher")):
                accounts.add_user(session, username=name, password=PASSWORD, role=role)
            session.flush()
            # Good annotators that their gold answers did not pause (they get items).
            good = session.scalars(
                text(
                    """SELECT u.id FROM user_account u
                       LEFT JOIN annotator_standing s ON s.annotator_id = u.id
                           AND s.prompt_set_id = :s
                       WHERE u.username LIKE 'q-annotator-%'
                           AND (substr(u.username, 13)::int - 1) % 40 < 32
                           AND coalesce(s.state, 'qualified') = 'qualified'
                       ORDER BY u.id LIMIT 3"""
                ),
                {"s": set_id},
            ).all()
            tokens = []
            for who in good:
                user = session.get(User, who)
                assert user is not None
                tokens.append(accounts.create_api_token(session, user=user, name="bench")[1])
            person = session.scalar(
                text("SELECT id FROM user_account WHERE username = 'q-annotator-033'")
            )
            session.commit()
    finally:
        engine.dispose()
    assert person is not None and len(tokens) == 3
    return Users("q-admin", "q-researcher", tokens, person)


class RssSampler:
    """Peak RSS of a process and its children, sampled every 0.2 s in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.rest = self.now()
        self.peak = self.rest
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        try:
            procs = [self.process, *self.process.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs)
        except psutil.Error:
            return 0

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Timings:
    first: float = 0.0
    cold: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)


def pages(set_id: int, person_id: int) -> list[tuple[str, str, str]]:
    """(name, who asks: admin or researcher, path)."""
    return [
        ("people page", "admin", "/admin/users"),
        ("person page", "admin", f"/admin/users/{person_id}"),
        ("set dashboard (judge figures)", "admin", f"/admin/prompt-sets/{set_id}"),
        ("adjudication queue", "admin", f"/admin/prompt-sets/{set_id}/adjudication"),
        (
            "research preview, reliability",
            "researcher",
            f"/research?prompt_set={set_id}&format=consensus&consensus_method=reliability",
        ),
        ("stats API", "researcher", f"/api/v1/prompt-sets/{set_id}/stats"),
    ]


def timed_get(client: httpx.Client, path: str) -> float:
    start = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    return elapsed


def submit_new(annotators: list[httpx.Client], set_id: int, n: int) -> int:
    """n new annotations through the real API (lease, then submit); returns how many."""
    done = 0
    for i in range(n):
        client = annotators[i % len(annotators)]
        lease = client.get("/api/v1/tasks/next", params={"prompt_set": set_id})
        if lease.status_code == 204:
            continue
        assert lease.status_code == 200, (lease.status_code, lease.text[:300])
        task = lease.json()
        body = {
            "assignment_id": task["assignment_id"],
            "ranking": [[c["id"]] for c in task["candidates"]],
            "order_changed": True,
            "idempotency_key": task["idempotency_key"],
        }
        submitted = client.post("/api/v1/annotations", json=body)
        assert submitted.status_code == 201, (submitted.status_code, submitted.text[:300])
        done += 1
    return done


def export_rate(client: httpx.Client, set_id: int, method: str) -> tuple[int, float, float]:
    """(rows, MiB, seconds) of the consensus JSONL export streamed whole."""
    params = {"prompt_set": set_id, "consensus_method": method}
    rows = size = 0
    start = time.perf_counter()
    with client.stream("GET", "/api/v1/exports/consensus", params=params) as response:
        assert response.status_code == 200, (response.status_code, response.read()[:300])
        for chunk in response.iter_bytes():
            size += len(chunk)
            rows += chunk.count(b"\n")
    return rows, size / MIB, time.perf_counter() - start


def pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def measure(server: LiveServer, set_id: int, users: Users, args: argparse.Namespace) -> str:
    def client(**headers: str) -> httpx.Client:
        return httpx.Client(base_url=server.base_url, timeout=TIMEOUT, headers=headers)

    sessions = {"admin": client(), "researcher": client()}
    for role, c in sessions.items():
        done = login(c, users.admin if role == "admin" else users.researcher, PASSWORD)
        assert done.status_code == 303, (role, done.status_code, done.text[:300])
    annotators = [client(Authorization=f"Bearer {t}") for t in users.annotator_tokens]
    table = pages(set_id, users.person_id)
    timings = {name: Timings() for name, _, _ in table}
    try:
        with RssSampler(server.process.pid) as rss:
            print(f"server RSS at rest {rss.rest / MIB:.0f} MiB", flush=True)
            for name, who, path in table:
                timings[name].first = timed_get(sessions[who], path)
                print(f"  first {name}: {timings[name].first:.2f} s", flush=True)
            for round_ in range(args.cold_rounds):
                added = submit_new(annotators, set_id, args.submits)
                for name, who, path in table:
                    timings[name].cold.append(timed_get(sessions[who], path))
                print(
                    f"  cold round {round_ + 1} ({added} new annotations): "
                    + ", ".join(f"{n} {t.cold[-1]:.2f} s" for n, t in timings.items()),
                    flush=True,
                )
            for name, who, path in table:
                timings[name].warm = [timed_get(sessions[who], path) for _ in range(args.warm)]
            exports = {m: export_rate(sessions["researcher"], set_id, m) for m in EXPORT_METHODS}
            peak = rss.peak
    finally:
        for c in [*sessions.values(), *annotators]:
            c.close()
    return report(timings, exports, peak - rss.rest, args)


EXPORT_METHODS = ("majority", "reliability")


def report(
    timings: dict[str, Timings],
    exports: dict[str, tuple[int, float, float]],
    grew: int,
    args: argparse.Namespace,
) -> str:
    print(
        f"\n| page | first after start | cold p50 / p95 (n={args.cold_rounds}) "
        f"| warm p50 / p95 (n={args.warm}) |\n|---|---|---|---|"
    )
    slowest = (0.0, "")
    for name, t in timings.items():
        print(
            f"| {name} | {t.first:.2f} s | {pct(t.cold, 50):.2f} / {pct(t.cold, 95):.2f} s "
            f"| {pct(t.warm, 50):.2f} / {pct(t.warm, 95):.2f} s |"
        )
        for kind, values in (("cold", t.cold), ("warm", t.warm)):
            slowest = max(slowest, (pct(values, 95), f"{name}, {kind}"))
    print("\n| consensus export | rows | MiB | seconds | rows/s |\n|---|---|---|---|---|")
    rates = {}
    for method, (rows, mib, secs) in exports.items():
        rates[method] = rows / secs
        print(f"| {method} | {rows:,} | {mib:.0f} | {secs:.1f} | {rates[method]:,.0f} |")
    share = rates["reliability"] / rates["majority"]
    return (
        f"quality at scale: slowest p95 {slowest[0]:.2f} s ({slowest[1]}); reliability export "
        f"{rates['reliability']:,.0f} rows/s = {share:.2f} of majority; server peak RSS "
        f"+{grew / MIB:.0f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--comparisons", type=int, default=1_000_000)
    parser.add_argument("--small", action="store_true", help=f"{SMALL:,} comparisons")
    parser.add_argument("--cold-rounds", type=int, default=3)
    parser.add_argument("--submits", type=int, default=3, help="new annotations per cold round")
    parser.add_argument("--warm", type=int, default=5, help="warm requests per page")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    comparisons = SMALL if args.small else args.comparisons
    os.environ.setdefault(
        databases.POSTGRES_URL_ENV, "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    print(f"load average {os.getloadavg()[0]:.1f}; filling about {comparisons:,} comparisons")
    url = databases.create_postgres_database(DATABASE)
    try:
        filled = quality_fill.fill(url, comparisons)
        print(
            f"filled: {filled.prompts:,} prompts + {filled.gold} gold, "
            f"{filled.annotations:,} annotations, {filled.comparisons:,} comparisons, "
            f"{filled.escalated:,} escalated, {filled.queued:,} contested at annotators_max "
            f"({filled.adjudicated:,} adjudicated), {filled.paused} annotators paused by gold",
            flush=True,
        )
        for step, secs in filled.seconds.items():
            print(f"  {step}: {secs:.1f} s", flush=True)
        users = make_users(url, filled.prompt_set_id)
        with tempfile.TemporaryDirectory() as tmp:
            env = ranklab_env(Path(tmp) / "data", url, RANKLAB_RUN_WORKER_IN_PROCESS="false")
            server = start_server(env, Path(tmp) / "server.log")
            try:
                line = measure(server, filled.prompt_set_id, users, args)
            finally:
                server.stop()
    finally:
        if not args.keep:
            databases.drop_postgres_database(DATABASE)
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
