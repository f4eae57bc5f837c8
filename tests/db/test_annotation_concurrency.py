"""Many annotators at once over real HTTP on PostgreSQL: nobody double-booked, k exactly."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.annotation import assignment, submission
from app.annotation.models import Annotation, Assignment, Comparison
from app.core.db import make_engine
from tests.db.test_reporting_tallies import assert_tallies_exact
from tests.factories.accounts import make_user
from tests.factories.annotation import submission_for
from tests.factories.prompt_sets import make_prompt_set
from tests.support.crowd import (
    all_at_once,
    annotations_reach,
    annotators,
    assert_k_distinct_annotators,
    next_item,
)
from tests.support.databases import migrated, sqlite_url
from tests.support.server import ranklab_env, start_server

ANNOTATORS = 32
PROMPTS = 40
K = 3


def _annotate_until_done(
    base_url: str,
    who: tuple[int, str],
    set_id: int,
    index: int,
    done: Callable[[], bool],
    engine: Engine,
) -> list[dict]:
    """One annotator: next, submit (sometimes skip, sometimes retry) until the crowd is
    done (`next_item`: a 204 alone does not mean the set is finished)."""
    saved = []
    annotator_id, token = who
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        for step in range(PROMPTS + 5):
            item = next_item(client, set_id, done, engine=engine, annotator_id=annotator_id)
            if item is None:
                return saved
            if (index + step) % 9 == 4:
                skip = client.post(
                    f"/api/v1/assignments/{item['assignment_id']}/skip", json={"reason": "busy"}
                )
                assert skip.status_code == 200, skip.text
                continue
            body = {
                "assignment_id": item["assignment_id"],
                "ranking": [[c["id"]] for c in item["candidates"]],
                "idempotency_key": f"{index}-{step}",
            }
            response = client.post("/api/v1/annotations", json=body)
            assert response.status_code == 201, response.text
            saved.append(response.json())
            if step % 5 == 0:  # a flaky network retries: stored once, same answer
                retry = client.post("/api/v1/annotations", json=body)
                assert (
                    retry.status_code == 200
                    and retry.json()["annotation_id"] == (response.json()["annotation_id"])
                )
    raise AssertionError("annotator never ran out of work")


def test_32_annotators_hammering_a_k3_set_fill_every_prompt_exactly(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    engine = make_engine(fresh_postgres_url)
    with Session(engine, expire_on_commit=False) as session:
        ps = make_prompt_set(session, prompts=PROMPTS, annotators_per_prompt=K)
        crowd = annotators(session, ANNOTATORS)
    server = start_server(ranklab_env(tmp_path / "data", fresh_postgres_url), tmp_path / "log")
    try:
        done = annotations_reach(engine, PROMPTS * K)
        results = all_at_once(
            ANNOTATORS,
            lambda i: _annotate_until_done(server.base_url, crowd[i], ps.id, i, done, engine),
        )
    finally:
        server.stop()
    with Session(engine) as session:
        assert_k_distinct_annotators(session, prompts=PROMPTS, k=K)
        stored = set(session.scalars(select(Annotation.id)))
        assert {r["annotation_id"] for r in results} == stored
        assert len(results) == PROMPTS * K
        comparisons = session.scalar(select(func.count()).select_from(Comparison))
        assert comparisons == PROMPTS * K * 6  # 4 candidates, no ties: 6 pairs each
        leased = select(func.count()).where(Assignment.status == "leased")
        assert session.scalar(leased) == 0
        # The reporting tallies kept by 32 concurrent submitters and skippers are exact.
        assert_tallies_exact(session, ps.id)
        session.rollback()
    engine.dispose()


def test_sqlite_single_writer_path_also_never_double_books(tmp_path: Path) -> None:
    """Service layer, one session per thread, on the embedded SQLite default."""
    engine = make_engine(migrated(sqlite_url(tmp_path / "lab.db")))
    with Session(engine, expire_on_commit=False) as session:
        ps = make_prompt_set(session, prompts=10, annotators_per_prompt=K)
        users = [make_user(session) for _ in range(8)]
    barrier = threading.Barrier(len(users))

    def work(user) -> int:
        barrier.wait()
        done = 0
        with Session(engine, expire_on_commit=False) as session:
            while (
                task := assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=user)
            ) is not None:
                submission.submit_annotation(session, annotator=user, data=submission_for(task))
                done += 1
        return done

    with ThreadPoolExecutor(len(users)) as pool:
        assert sum(pool.map(work, users)) == 10 * K
    with Session(engine) as session:
        rows = session.execute(select(Annotation.prompt_id, Annotation.annotator_id)).all()
        assert set(Counter(p for p, _ in rows).values()) == {K} and len(set(rows)) == len(rows)
    engine.dispose()
