"""Many annotators at once: start them together, then check the lease invariants."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
from sqlalchemy import Engine, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from app.annotation.models import Annotation, Assignment
from app.prompt_sets.models import Prompt, PromptSet

T = TypeVar("T")


def all_at_once(count: int, work: Callable[[int], list[T]]) -> list[T]:
    """Run work(0) ... work(count - 1) in threads released by one barrier; the results of
    every call, flattened."""
    barrier = threading.Barrier(count)

    def run(i: int) -> list[T]:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return [r for rs in pool.map(run, range(count)) for r in rs]


def assert_k_distinct_annotators(session: Session, *, prompts: int, k: int) -> list[Any]:
    """Every prompt has exactly k annotations, and nobody annotated a prompt twice.
    Returns the (prompt_id, annotator_id) rows."""
    rows = session.execute(select(Annotation.prompt_id, Annotation.annotator_id)).all()
    per_prompt = Counter(prompt_id for prompt_id, _ in rows)
    assert len(per_prompt) == prompts and set(per_prompt.values()) == {k}
    assert len(set(rows)) == len(rows)  # nobody annotated a prompt twice
    return rows


def annotators(session: Session, count: int) -> list[tuple[int, str]]:
    """`count` annotators: (user id, API token) each."""
    from tests.factories.accounts import make_token, make_user

    users = [make_user(session) for _ in range(count)]
    return [(user.id, make_token(session, user)) for user in users]


def annotations_reach(engine: Engine, total: int) -> Callable[[], bool]:
    """Whether the database holds `total` annotations: the crowd's work is done."""

    def done() -> bool:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(Annotation)) >= total

    return done


def free_seats(engine: Engine, set_id: int, annotator_id: int) -> dict[int, tuple]:
    """The set's regular prompts with a seat this annotator could take now (one they have
    not submitted or skipped, with submitted + live leases under the seat target), each
    with a fingerprint of its leases: (assignment rows, latest leased_at). An unchanged
    fingerprint means nobody leased the prompt in between. Lease liveness by the
    database's clock, as the claim counts it."""
    taken = (
        select(func.count())
        .where(
            Assignment.prompt_id == Prompt.id,
            or_(
                Assignment.status == "submitted",
                and_(Assignment.status == "leased", Assignment.lease_expires_at > func.now()),
            ),
        )
        .scalar_subquery()
    )
    mine_finished = exists().where(
        Assignment.prompt_id == Prompt.id,
        Assignment.annotator_id == annotator_id,
        Assignment.status.in_(("submitted", "skipped")),
    )
    rows = (
        select(Assignment.prompt_id.label("id"), func.count(), func.max(Assignment.leased_at))
        .group_by(Assignment.prompt_id)
        .subquery()
    )
    query = (
        select(Prompt.id, rows.c[1], rows.c[2])
        .join(PromptSet, PromptSet.id == Prompt.prompt_set_id)
        .outerjoin(rows, rows.c.id == Prompt.id)
        .where(
            Prompt.prompt_set_id == set_id,
            Prompt.status == "active",
            Prompt.candidates_ready.is_(True),
            Prompt.is_gold.is_(False),
            ~mine_finished,
            taken < PromptSet.annotators_per_prompt + Prompt.extra_seats,
        )
    )
    with engine.connect() as conn:
        return {pid: (n or 0, latest) for pid, n, latest in conn.execute(query)}


def next_item(
    client: httpx.Client,
    set_id: int,
    done: Callable[[], bool],
    *,
    engine: Engine,
    annotator_id: int,
    within: float = 120.0,
    refused: tuple[int, ...] = (),
) -> dict | None:
    """GET the annotator's next item, asking again while the crowd is not done.

    A 204 means nothing for this annotator *now*, not that the set is finished: a seat
    someone skips (or a lease that ends) later reopens its prompt, so an annotator who
    left on the first 204 could leave such a seat to nobody. But a 204 while a seat was
    free for them all along is a false "nothing left" (issue 20, item 5: the claim must
    wait for prompt rows others hold, not pass over them), and fails here: a prompt with
    a free seat both before and after the request, that nobody leased in between, was
    free when the claim ran. None once the crowd is done, or (a status in `refused`)
    once the server turns the annotator away, deactivated say."""
    deadline = time.monotonic() + within
    while True:
        before = free_seats(engine, set_id, annotator_id)
        task = client.get(f"/api/v1/tasks/next?prompt_set={set_id}")
        if task.status_code == 200:
            return task.json()
        if task.status_code in refused:
            return None
        assert task.status_code == 204, task.text
        after = free_seats(engine, set_id, annotator_id)
        missed = sorted(pid for pid, seen in before.items() if after.get(pid) == seen)
        assert not missed, f"204 (nothing left) while prompts {missed} had a free seat"
        if done():
            return None
        assert time.monotonic() < deadline, "a free seat stayed open and nobody was given it"
        time.sleep(0.05)
