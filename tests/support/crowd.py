"""Many annotators at once: start them together, then check the lease invariants."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.annotation.models import Annotation

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


def annotations_reach(engine: Engine, total: int) -> Callable[[], bool]:
    """Whether the database holds `total` annotations: the crowd's work is done."""

    def done() -> bool:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(Annotation)) >= total

    return done


def next_item(
    client: httpx.Client, set_id: int, done: Callable[[], bool], *, within: float = 120.0
) -> dict | None:
    """GET the annotator's next item, asking again while the crowd is not done.

    A 204 means nothing for this annotator *now*, not that the set is finished: a prompt
    row another annotator's claim holds locked is passed over (SKIP LOCKED), and a seat
    someone skips (or a lease that ends) later reopens its prompt. An annotator who left
    on the first 204 could leave such a seat to nobody. None once the crowd is done."""
    deadline = time.monotonic() + within
    while True:
        task = client.get(f"/api/v1/tasks/next?prompt_set={set_id}")
        if task.status_code == 200:
            return task.json()
        assert task.status_code == 204, task.text
        if done():
            return None
        assert time.monotonic() < deadline, "a free seat stayed open and nobody was given it"
        time.sleep(0.05)
