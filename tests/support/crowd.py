"""Many annotators at once: start them together, then check the lease invariants."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import select
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
