"""Faults, with real processes on PostgreSQL: the server killed with SIGKILL mid-load, and
the database going away under load (through a proxy this test owns, never the shared
PostgreSQL server itself)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, make_url, select, text
from sqlalchemy.orm import Session

from app.annotation.models import Annotation, Assignment
from app.core.db import make_engine
from tests.factories.accounts import make_token, make_user
from tests.factories.prompt_sets import make_prompt_set
from tests.support.server import ranklab_env, start_server
from tests.support.tcp_proxy import TcpProxy

ANNOTATORS = 16
PROMPTS = 20
K = 2
KILL_AFTER = 12  # 2xx submissions seen before the kill
DEADLINE_SECONDS = 120


class Outcomes:
    """What the clients were told: every 2xx, by idempotency key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_key: dict[str, set[int]] = {}
        self.saved = 0

    def record(self, key: str, annotation_id: int) -> None:
        with self.lock:
            self.by_key.setdefault(key, set()).add(annotation_id)
            self.saved += 1


def _until_answered(send, deadline: float) -> httpx.Response:
    """Retry the same request through a dead server until it answers (a flaky network)."""
    while True:
        try:
            return send()
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _annotate(base_url: str, token: str, set_id: int, index: int, outcomes: Outcomes) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for _ in range(PROMPTS + 5):
            task = _until_answered(
                lambda: client.get(f"/api/v1/tasks/next?prompt_set={set_id}"), deadline
            )
            if task.status_code == 204:
                return
            assert task.status_code == 200, task.text
            item = task.json()
            key = f"{index}-{item['assignment_id']}"
            body = {
                "assignment_id": item["assignment_id"],
                "ranking": [[c["id"]] for c in item["candidates"]],
                "idempotency_key": key,
            }
            response = _until_answered(
                lambda body=body: client.post("/api/v1/annotations", json=body), deadline
            )
            assert response.status_code in (200, 201), response.text
            outcomes.record(key, response.json()["annotation_id"])
    raise AssertionError("annotator never ran out of work")


def test_kill_9_under_load_then_restart_loses_and_doubles_nothing(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    engine = make_engine(fresh_postgres_url)
    with Session(engine, expire_on_commit=False) as session:
        ps = make_prompt_set(session, prompts=PROMPTS, annotators_per_prompt=K)
        tokens = [make_token(session, make_user(session)) for _ in range(ANNOTATORS)]
    env = ranklab_env(tmp_path / "data", fresh_postgres_url)
    server = start_server(env, tmp_path / "server.log")
    port = int(server.base_url.rsplit(":", 1)[1])
    outcomes = Outcomes()
    try:
        with ThreadPoolExecutor(ANNOTATORS) as pool:
            futures = [
                pool.submit(_annotate, server.base_url, tokens[i], ps.id, i, outcomes)
                for i in range(ANNOTATORS)
            ]
            while outcomes.saved < KILL_AFTER and not any(f.done() for f in futures):
                time.sleep(0.05)
            server.process.kill()  # SIGKILL: no shutdown handler runs
            server.process.wait()
            server.stop()
            saved_at_kill = outcomes.saved
            server = start_server(env, tmp_path / "server.log", port=port)
            for future in futures:
                future.result()
    finally:
        server.stop()
    assert KILL_AFTER <= saved_at_kill < PROMPTS * K  # the kill really came mid-load
    with Session(engine) as session:
        stored = dict(session.execute(select(Annotation.idempotency_key, Annotation.id)).all())
        per_prompt = Counter(session.scalars(select(Annotation.prompt_id)))
        leased = session.scalar(
            select(func.count()).select_from(Assignment).where(Assignment.status == "leased")
        )
    engine.dispose()
    # Every 2xx a client saw is stored, once, under the id it was told.
    assert all(len(ids) == 1 for ids in outcomes.by_key.values())
    assert {key: ids.pop() for key, ids in outcomes.by_key.items()} == stored
    # No lease was lost: every prompt reached k annotations and no lease is left hanging.
    assert len(per_prompt) == PROMPTS and set(per_prompt.values()) == {K}
    assert leased == 0


def _proxied(url: str, proxy: TcpProxy) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


def _terminate_app_connections(admin_url: str, database: str) -> int:
    """End the app's PostgreSQL connections (only this test's own database)."""
    engine = make_engine(admin_url)
    try:
        with engine.connect() as conn:
            ended = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": database},
            ).scalar_one()
            conn.commit()
            return int(ended)
    finally:
        engine.dispose()


def test_a_database_outage_answers_503_and_recovers_without_a_restart(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    real = make_url(fresh_postgres_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    proxy.start()
    engine = make_engine(fresh_postgres_url)
    with Session(engine, expire_on_commit=False) as session:
        make_prompt_set(session, prompts=2)
        headers = {"Authorization": f"Bearer {make_token(session, make_user(session))}"}
    server = start_server(
        ranklab_env(tmp_path / "data", _proxied(fresh_postgres_url, proxy)),
        tmp_path / "server.log",
    )
    try:
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
            assert client.get("/api/v1/me").status_code == 200
            # The connections the pool holds die under it: pre-ping replaces them unseen.
            assert _terminate_app_connections(fresh_postgres_url, real.database) >= 1
            assert client.get("/api/v1/me").status_code == 200

            proxy.stop()
            statuses = _load(client, seconds=2)
            down = client.get("/api/v1/me")
            page = client.get("/annotate", headers={"Accept": "text/html"})
            proxy.start()
            recovered = _first_success_within(client, seconds=15)
            after = _load(client, seconds=1)
    finally:
        server.stop()
        proxy.stop()
        engine.dispose()
    assert set(statuses) == {503}
    assert down.status_code == 503 and down.headers["retry-after"] == "5"
    assert down.json()["error"] == "The database is unavailable right now; try again in a moment."
    assert page.status_code == 503 and "database is unavailable" in page.text
    assert recovered is not None
    assert set(after) == {200}
    assert "Traceback" not in server.log()


def _load(client: httpx.Client, *, seconds: float) -> list[int]:
    """Four callers in parallel for a while: the statuses they got."""
    end = time.monotonic() + seconds

    def run() -> list[int]:
        out = []
        while time.monotonic() < end:
            out.append(client.get("/api/v1/me").status_code)
        return out

    with ThreadPoolExecutor(4) as pool:
        return [s for r in pool.map(lambda _: run(), range(4)) for s in r]


def _first_success_within(client: httpx.Client, *, seconds: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if client.get("/api/v1/me").status_code == 200:
            return time.monotonic() - start
        time.sleep(0.1)
    return None


pytestmark = pytest.mark.postgres
