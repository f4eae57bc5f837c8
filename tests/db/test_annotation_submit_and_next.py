"""`POST /api/v1/annotations?next=1` over real HTTP on PostgreSQL: the submit and the next
lease in one transaction, with every lease rule of the two-request cycle (issue 11)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.annotation.models import Annotation, Assignment
from app.core.db import make_engine
from tests.factories.accounts import make_token, make_user
from tests.factories.prompt_sets import make_prompt_set
from tests.support.crowd import (
    all_at_once,
    annotations_reach,
    annotators,
    assert_k_distinct_annotators,
    next_item,
)
from tests.support.server import LiveServer, ranklab_env, start_server

ANNOTATORS = 16
PROMPTS = 30
K = 3


@pytest.fixture
def live(fresh_postgres_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    server = start_server(ranklab_env(tmp_path / "data", fresh_postgres_url), tmp_path / "log")
    yield server, fresh_postgres_url
    server.stop()


def _body(item: dict, key: str) -> dict:
    return {
        "assignment_id": item["assignment_id"],
        "ranking": [[c["id"]] for c in item["candidates"]],
        "idempotency_key": key,
        "order_changed": True,
    }


def _annotate_with_next(
    base_url: str,
    who: tuple[int, str],
    set_id: int,
    index: int,
    done: Callable[[], bool],
    engine: Engine,
) -> list[dict]:
    """One annotator: GET an item, then submit-and-next while there is a `next` (and GET
    again when there is none, until the crowd is done: see `next_item`); every fourth
    submit is sent twice (a retry after a lost answer)."""
    saved = []
    annotator_id, token = who
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        item = next_item(client, set_id, done, engine=engine, annotator_id=annotator_id)
        step = 0
        while item is not None:
            body = _body(item, f"{index}-{step}")
            response = client.post("/api/v1/annotations?next=1", json=body)
            assert response.status_code == 201, response.text
            out = response.json()
            saved.append(out["annotation"])
            if step % 4 == 1:
                retry = client.post("/api/v1/annotations?next=1", json=body)
                assert retry.status_code == 200, retry.text
                again = retry.json()
                assert again["annotation"]["annotation_id"] == out["annotation"]["annotation_id"]
                if "next" in out:  # the same next lease, never a second one
                    assert again["next"]["assignment_id"] == out["next"]["assignment_id"]
                else:  # nothing was free a moment ago; a seat may have freed since
                    out = again
            item = out.get("next") or next_item(
                client, set_id, done, engine=engine, annotator_id=annotator_id
            )
            step += 1
            assert step <= PROMPTS + 1, "annotator never ran out of work"
    return saved


def test_16_annotators_submit_and_next_fill_every_prompt_exactly_k_times(live) -> None:
    server, url = live
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        ps = make_prompt_set(session, prompts=PROMPTS, annotators_per_prompt=K)
        crowd = annotators(session, ANNOTATORS)
    done = annotations_reach(engine, PROMPTS * K)
    results = all_at_once(
        ANNOTATORS,
        lambda i: _annotate_with_next(server.base_url, crowd[i], ps.id, i, done, engine),
    )
    with Session(engine) as session:
        assert_k_distinct_annotators(session, prompts=PROMPTS, k=K)
        # No lost 2xx: every answered annotation is stored, and nothing else is.
        assert sorted(r["annotation_id"] for r in results) == sorted(
            session.scalars(select(Annotation.id))
        )
        assert all(session.scalars(select(Annotation.order_changed)))
        leased = select(func.count()).where(Assignment.status == "leased")
        assert session.scalar(leased) == 0  # nobody holds a lease they were not given
    engine.dispose()


def test_retried_submit_returns_the_same_next_lease_and_a_finished_set_returns_none(
    live,
) -> None:
    server, url = live
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        ps = make_prompt_set(session, prompts=2, annotators_per_prompt=1)
        token = make_token(session, make_user(session))
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
        first = client.get(f"/api/v1/tasks/next?prompt_set={ps.id}").json()
        body = _body(first, "retry-me")
        sent = client.post("/api/v1/annotations?next=1", json=body)
        retried = client.post("/api/v1/annotations?next=1", json=body)
        assert (sent.status_code, retried.status_code) == (201, 200)
        assert sent.json()["annotation"] == {**retried.json()["annotation"], "created": True}
        second = sent.json()["next"]
        assert retried.json()["next"]["assignment_id"] == second["assignment_id"]
        assert second["assignment_id"] != first["assignment_id"]

        last = client.post("/api/v1/annotations?next=1", json=_body(second, "last"))
        assert last.status_code == 201
        assert set(last.json()) == {"annotation"}  # nothing left: no `next`
        assert last.json()["annotation"]["created"] is True
        # A retry of the last one is still answered, still without a `next`.
        again = client.post("/api/v1/annotations?next=1", json=_body(second, "last"))
        assert again.status_code == 200 and set(again.json()) == {"annotation"}
        # Without ?next the answer keeps its old shape.
        plain = client.post("/api/v1/annotations", json=_body(second, "last"))
        assert plain.status_code == 200 and plain.json()["annotation_id"]
    with Session(engine) as session:
        assignments = session.scalar(select(func.count()).select_from(Assignment))
        assert assignments == 2  # the retry leased nothing more
        assert session.scalar(select(func.count()).select_from(Annotation)) == 2
    engine.dispose()
