"""Benchmark: annotation cycles against a real server on PostgreSQL.

    PYTHONPATH=$PWD python bench/annotate.py [--prompts 3000] [--seconds 20] [--workers 1]
        [--mode next|pair] [--database ranklab_bench_annotate]
        [--routing in_order|random|uncertain_first] [--k-max 5]

`--mode next` (the default, issue 11): one request per item, `POST /api/v1/annotations?next=1`
stores the ranking and returns the next lease. `--mode pair`: the two-request cycle
(`GET /api/v1/tasks/next` + `POST /api/v1/annotations`), as before issue 11.

Creates a throwaway database `ranklab_bench_annotate` on the server named by
RANKLAB_BENCH_POSTGRES_URL (default: postgres on 127.0.0.1), seeds a prompt set with
`--prompts` ready prompts of 4 candidates (k=3), starts `ranklab serve`, then measures
cycles per second and p50/p95 latency with 1 and 16 concurrent clients (httpx, bearer
tokens), and the bytes the annotate page loads (HTML + CSS + JS, uncompressed).
With --routing uncertain_first an active reward model with random candidate scores is
seeded and the priorities refreshed, so the claim walks (priority, id) order.
With --k-max the set escalates contested prompts up to that many annotators (issue 13);
the bench's rankings are each client's shuffled order, so nearly every prompt is contested
and escalates: the claim's and the submit's worst case.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from sqlalchemy import create_engine, insert, make_url, select, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import app.models  # noqa: E402,F401
from app.accounts import service as accounts  # noqa: E402
from app.core import migrate  # noqa: E402
from app.core.db import make_engine  # noqa: E402
from app.prompt_sets.content import content_hash  # noqa: E402
from app.prompt_sets.models import Candidate, Prompt, PromptSet  # noqa: E402
from tests.support.http import login  # noqa: E402
from tests.support.server import ranklab_env, start_server  # noqa: E402

DB_NAME = "ranklab_bench_annotate"
PASSWORD = "bench-password-123"
CLIENTS = 16


def fresh_database(admin_url: str, name: str) -> str:
    admin = create_engine(make_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    return url


def route(session: Session, set_id: int, routing: str) -> None:
    """Seed what a reward model leaves behind (scores, priorities) for `routing`."""
    import random

    from app.reward.models import CandidateScore, RewardModel
    from app.reward.routing import refresh_priorities

    ps = session.get(PromptSet, set_id)
    ps.routing = routing
    if routing == "uncertain_first":
        version = RewardModel(
            prompt_set_id=set_id, kind="fast", backbone="smollm2", status="done", is_active=True
        )
        session.add(version)
        session.flush()
        rng = random.Random(0)
        cids = session.scalars(
            select(Candidate.id).join(Prompt).where(Prompt.prompt_set_id == set_id)
        ).all()
        session.execute(
            insert(CandidateScore),
            [
                {"reward_model_id": version.id, "candidate_id": c, "score": rng.gauss(0, 2)}
                for c in cids
            ],
        )
    session.flush()
    refresh_priorities(session, ps)


def seed(
    url: str, prompts: int, annotators: int, routing: str = "in_order", k_max: int | None = None
) -> tuple[int, list[str]]:
    engine = make_engine(url)
    with Session(engine) as session:
        ps = PromptSet(
            name="bench", candidates_per_prompt=4, annotators_per_prompt=3, annotators_max=k_max
        )
        session.add(ps)
        session.flush()
        rows = []
        for i in range(prompts):
            body = f"Bench prompt {i}: explain a **topic** in two paragraphs."
            rows.append(
                {
                    "prompt_set_id": ps.id,
                    "text": body,
                    "content_hash": content_hash(body, None),
                    "candidates_ready": True,
                    "meta": {},
                }
            )
        session.execute(insert(Prompt), rows)
        ids = session.scalars(select(Prompt.id).where(Prompt.prompt_set_id == ps.id)).all()
        answer = "A fairly typical answer with a list:\n\n- one\n- two\n\n" + "Text. " * 120
        session.execute(
            insert(Candidate),
            [
                {"prompt_id": pid, "position": j, "text": f"{answer} ({j})", "model": "m"}
                for pid in ids
                for j in range(4)
            ],
        )
        tokens = []
        for n in range(annotators):
            user = accounts.add_user(
                session, username=f"bench{n}", password=PASSWORD, role="annotator"
            )
            session.flush()
            tokens.append(accounts.create_api_token(session, user=user, name="bench")[1])
        route(session, ps.id, routing)
        session.commit()
        set_id = ps.id
    # Fresh statistics, as autovacuum would have after a real import: without them the
    # planner sorts the whole set instead of walking the primary key to the first open prompt.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return set_id, tokens


def _submission(item: dict) -> dict:
    return {
        "assignment_id": item["assignment_id"],
        "ranking": [[c["id"]] for c in item["candidates"]],
        "idempotency_key": item["idempotency_key"],
        "seconds_spent": 1.0,
        "order_changed": True,
    }


async def next_loop(
    base_url: str, token: str, set_id: int, deadline: float, out: dict[str, list[float]]
) -> None:
    """One request per item: submit, and the answer carries the next lease."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        first = await client.get(f"/api/v1/tasks/next?prompt_set={set_id}")
        if first.status_code == 204:
            return
        item = first.json()
        while item is not None and time.perf_counter() < deadline:
            t0 = time.perf_counter()
            saved = await client.post("/api/v1/annotations?next=1", json=_submission(item))
            t1 = time.perf_counter()
            assert saved.status_code == 201, saved.text
            item = saved.json().get("next")
            out["cycle"].append(t1 - t0)


async def pair_loop(
    base_url: str, token: str, set_id: int, deadline: float, out: dict[str, list[float]]
) -> None:
    """The two-request cycle: ask for the next item, then submit it."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            task = await client.get(f"/api/v1/tasks/next?prompt_set={set_id}")
            t1 = time.perf_counter()
            if task.status_code == 204:
                return
            task.raise_for_status()
            saved = await client.post("/api/v1/annotations", json=_submission(task.json()))
            t2 = time.perf_counter()
            assert saved.status_code == 201, saved.text
            out["next"].append(t1 - t0)
            out["submit"].append(t2 - t1)
            out["cycle"].append(t2 - t0)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


async def measure(base_url: str, tokens: list[str], set_id: int, seconds: float, mode: str) -> dict:
    out: dict[str, list[float]] = {"next": [], "submit": [], "cycle": []}
    loop = next_loop if mode == "next" else pair_loop
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(loop(base_url, t, set_id, deadline, out) for t in tokens))
    elapsed = time.perf_counter() - start
    return {
        "clients": len(tokens),
        "cycles": len(out["cycle"]),
        "per_second": len(out["cycle"]) / elapsed,
        **{f"{k}_p50": pct(v, 50) for k, v in out.items() if v},
        **{f"{k}_p95": pct(v, 95) for k, v in out.items() if v},
    }


def report(r: dict, cpu_ms: float, mode: str) -> str:
    """One line: items (cycles) per second, latencies, app CPU per item, machine load."""
    line = (
        f"{r['clients']:>2} clients, {mode}: {r['per_second']:.1f} items/s "
        f"({r['cycles']} items); per item p50 {r['cycle_p50']:.1f} ms, "
        f"p95 {r['cycle_p95']:.1f} ms"
    )
    if mode == "pair":
        line += (
            f"; next p50/p95 {r['next_p50']:.1f}/{r['next_p95']:.1f} ms; "
            f"submit p50/p95 {r['submit_p50']:.1f}/{r['submit_p95']:.1f} ms"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{line}; app CPU {cpu_ms:.1f} ms/item; load average {load}"


def page_bytes(base_url: str, set_id: int) -> dict[str, int]:
    with httpx.Client(base_url=base_url) as client:
        login(client, "bench0", PASSWORD)
        html = client.get(f"/annotate/{set_id}")
        html.raise_for_status()
        sizes = {"html": len(html.content)}
        for path in ("/static/css/app.css", "/static/css/annotation.css"):
            sizes[path] = len(client.get(path).content)
        sizes["/static/js/annotation/rank.js"] = len(
            client.get("/static/js/annotation/rank.js").content
        )
    sizes["total"] = sum(sizes.values())
    return sizes


def _cpu_seconds(proc: psutil.Process) -> float:
    """CPU time of the server process and its children (uvicorn workers)."""
    total = sum(proc.cpu_times()[:2])
    for child in proc.children(recursive=True):
        total += sum(child.cpu_times()[:2])
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--mode", choices=("next", "pair"), default="next")
    parser.add_argument("--database", default=DB_NAME, help="throwaway database to create")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, CLIENTS])
    parser.add_argument(
        "--routing", choices=("in_order", "random", "uncertain_first"), default="in_order"
    )
    parser.add_argument("--k-max", type=int, default=None, help="escalate up to k_max seats")
    args = parser.parse_args()
    admin = os.environ.get(
        "RANKLAB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    url = fresh_database(admin, args.database)
    set_id, tokens = seed(url, args.prompts, max(args.clients) + 1, args.routing, args.k_max)
    print(
        f"seeded {args.prompts} prompts x 4 candidates, k=3, k_max={args.k_max},"
        f" routing {args.routing},"
        f" on {args.database}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = ranklab_env(Path(tmp) / "data", url)
        server = start_server(env, Path(tmp) / "server.log", ["--workers", str(args.workers)])
        try:
            print(f"annotate page bytes: {page_bytes(server.base_url, set_id)}")
            proc = psutil.Process(server.process.pid)
            for clients in args.clients:
                group = tokens[1 : clients + 1]
                cpu0 = _cpu_seconds(proc)
                r = asyncio.run(measure(server.base_url, group, set_id, args.seconds, args.mode))
                cpu_ms = (_cpu_seconds(proc) - cpu0) * 1000 / max(r["cycles"], 1)
                print(report(r, cpu_ms, args.mode), flush=True)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
