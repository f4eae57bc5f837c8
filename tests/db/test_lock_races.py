"""Races that lost data or answered 500 (issue 20, items 3, 4, 6 and 7), on real
PostgreSQL with real connections and threads.

Each test makes the interleaving deterministic with a third connection that holds one
row lock: both sides of the race queue behind it (`_lock_waiters` sees them waiting),
and releasing it lets them run into each other in the order that broke before.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.admin import people
from app.annotation import assignment, prompt_removal, submission
from app.annotation.models import Annotation, AnnotatorStanding, Assignment, Comparison
from app.core.config import Settings
from app.core.db import make_engine, utcnow
from app.generation import service as generation_service
from app.prompt_sets.models import Candidate, Prompt
from tests.factories.accounts import make_user
from tests.factories.annotation import lease, make_lease, submission_for
from tests.factories.prompt_sets import make_gold_prompt, make_prompt_set

T = TypeVar("T")


@pytest.fixture
def engine(fresh_postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(fresh_postgres_url)
    yield engine
    engine.dispose()


def _lock_waiters(engine: Engine, count: int, *, within: float = 15.0) -> None:
    """Wait until `count` transactions of this database wait for a lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + within
    with engine.connect() as conn:
        while conn.scalar(query) < count:
            assert time.monotonic() < deadline, f"fewer than {count} transactions queued"
            time.sleep(0.02)
            conn.rollback()


def _holding(engine: Engine, statement: Any) -> Connection:
    """A connection whose open transaction holds the row lock `statement` takes."""
    conn = engine.connect()
    conn.begin()
    conn.execute(statement)
    return conn


def _run(pool: ThreadPoolExecutor, engine: Engine, action: Callable[[Session], T]) -> Future[T]:
    def work() -> T:
        with Session(engine, expire_on_commit=False) as session:
            return action(session)

    return pool.submit(work)


def _lock_row(model: Any, row_id: int) -> Any:
    return select(model.id).where(model.id == row_id).with_for_update()


def _answer(assignment_row: Assignment, session: Session) -> submission.SubmissionInput:
    ids = session.scalars(
        select(Candidate.id).where(Candidate.prompt_id == assignment_row.prompt_id)
    )
    return submission.SubmissionInput(
        assignment_id=assignment_row.id,
        ranking=[[cid] for cid in sorted(ids)],
        idempotency_key=f"key-{assignment_row.id}",
    )


# --- item 3: deactivating an annotator while they submit ---------------------------------


def test_deactivating_an_annotator_during_their_submit_and_next_neither_deadlocks_nor_loses(
    engine: Engine,
) -> None:
    """Before: the submit held prompt -> assignment and wanted the user row; the admin held
    the user row and wanted the assignment: PostgreSQL aborted one of them."""
    with Session(engine, expire_on_commit=False) as session:
        ps = make_prompt_set(session, prompts=3, annotators_per_prompt=1)
        admin = make_user(session, role="admin")
        worker = make_user(session)
        task = lease(session, ps.id, worker)
    blocker = _holding(engine, _lock_row(Assignment, task.assignment_id))
    with ThreadPoolExecutor(2) as pool:
        submitted = _run(
            pool,
            engine,
            lambda s: submission.submit_and_next(s, annotator=worker, data=submission_for(task)),
        )
        _lock_waiters(engine, 1)
        deactivated = _run(
            pool,
            engine,
            lambda s: people.set_active(
                s, user_id=worker.id, active=False, acting_user_id=admin.id
            ),
        )
        _lock_waiters(engine, 2)
        blocker.commit()
        blocker.close()
        result, _next = submitted.result(timeout=30)
        deactivated.result(timeout=30)
    with Session(engine) as session:
        assert session.get(Annotation, result.annotation_id) is not None
        assert session.get(User, worker.id).is_active is False  # type: ignore[union-attr]
        open_leases = select(func.count()).where(
            Assignment.annotator_id == worker.id, Assignment.status == "leased"
        )
        assert session.scalar(open_leases) == 0  # nothing leased after the deactivation


def test_retry_once_runs_a_deadlock_victim_again(engine: Engine) -> None:
    """The safety net: a transaction PostgreSQL really aborted as a deadlock victim is
    rolled back and run once more. The victim waits first, so its deadlock check fires
    first and it is the one aborted."""
    from app.core.db import retry_once_on_conflict  # new in issue 20

    with Session(engine, expire_on_commit=False) as session:
        ps = make_prompt_set(session, prompts=2, annotators_per_prompt=1)
        a, b = session.scalars(select(Prompt.id).where(Prompt.prompt_set_id == ps.id)).all()
    attempts = []

    def victim(session: Session) -> int:
        def action() -> int:
            attempts.append(1)
            session.execute(_lock_row(Prompt, a))
            if len(attempts) == 1:
                session.execute(_lock_row(Prompt, b))  # held by `other`: it waits
            session.commit()
            return len(attempts)

        return retry_once_on_conflict(session, action)

    other = _holding(engine, _lock_row(Prompt, b))
    with ThreadPoolExecutor(1) as pool:
        tried = _run(pool, engine, victim)
        _lock_waiters(engine, 1)
        other.execute(_lock_row(Prompt, a))  # a cycle: the victim is aborted, we get `a`
        other.commit()
        other.close()
        assert tried.result(timeout=30) == 2


# --- item 4: deleting a prompt, regenerating candidates, while a submit runs -------------


def test_deleting_a_prompt_while_its_first_annotation_is_being_stored_archives_it(
    engine: Engine,
) -> None:
    """Before: the delete counted no annotation (the submit had not committed), then
    deleted the prompt after the submit committed, and the cascade took the annotation."""
    with Session(engine, expire_on_commit=False) as session:
        ps = make_prompt_set(session, prompts=1, annotators_per_prompt=1)
        worker = make_user(session)
        task = lease(session, ps.id, worker)
    blocker = _holding(engine, _lock_row(Assignment, task.assignment_id))
    with ThreadPoolExecutor(2) as pool:
        submitted = _run(
            pool,
            engine,
            lambda s: submission.submit_annotation(s, annotator=worker, data=submission_for(task)),
        )
        _lock_waiters(engine, 1)
        removed = _run(
            pool,
            engine,
            lambda s: prompt_removal.delete_or_archive_prompt(s, prompt_id=task.prompt_id),
        )
        _lock_waiters(engine, 2)
        blocker.commit()
        blocker.close()
        result = submitted.result(timeout=30)
        outcome = removed.result(timeout=30)
    assert outcome == "archived"
    with Session(engine) as session:
        assert session.get(Annotation, result.annotation_id) is not None


def test_regenerating_while_a_first_annotation_is_being_stored_keeps_its_candidates(
    engine: Engine, fresh_postgres_url: str, tmp_path: Path
) -> None:
    """Before: the regeneration counted no annotation and deleted the candidates, and the
    annotation stored meanwhile lost its comparisons (cascade)."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=fresh_postgres_url,
        secret_key="x" * 48,
        run_worker_in_process=False,
    )
    with Session(engine, expire_on_commit=False) as session:
        ps = make_prompt_set(session, prompts=1, candidates=2, annotators_per_prompt=1)
        worker = make_user(session)
        task = lease(session, ps.id, worker)
    blocker = _holding(engine, _lock_row(Assignment, task.assignment_id))
    with ThreadPoolExecutor(2) as pool:
        submitted = _run(
            pool,
            engine,
            lambda s: submission.submit_annotation(s, annotator=worker, data=submission_for(task)),
        )
        _lock_waiters(engine, 1)
        regenerated = _run(
            pool,
            engine,
            lambda s: generation_service.start_generation(
                s, prompt_set_id=ps.id, created_by_id=None, regenerate=True, app_settings=settings
            ),
        )
        _lock_waiters(engine, 2)
        blocker.commit()
        blocker.close()
        result = submitted.result(timeout=30)
        regenerated.result(timeout=30)
    with Session(engine) as session:
        candidates = select(func.count()).where(Candidate.prompt_id == task.prompt_id)
        assert session.scalar(candidates) == 2  # annotated meanwhile: kept as it was
        of_annotation = Comparison.annotation_id == result.annotation_id
        assert session.scalar(select(func.count()).where(of_annotation)) == 1


# --- item 6: lease times from the database's clock ---------------------------------------


def test_a_process_with_a_slow_clock_cannot_land_a_late_submit_after_the_seat_was_re_leased(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        ps = make_prompt_set(session, prompts=1, annotators_per_prompt=1)
        late, next_one = make_user(session), make_user(session)
        task = lease(session, ps.id, late)
        # The lease lapsed a second ago, by the database's clock.
        now = session.scalar(select(func.clock_timestamp()))
        session.execute(
            update(Assignment)
            .where(Assignment.id == task.assignment_id)
            .values(leased_at=now - dt.timedelta(minutes=5), lease_expires_at=now)
        )
        session.commit()
        lease(session, ps.id, next_one)  # the seat is taken again
    # The late annotator's request lands on an app process whose clock is 10 min behind.
    slow = lambda: utcnow() - dt.timedelta(minutes=10)  # noqa: E731
    monkeypatch.setattr(submission, "utcnow", slow)
    monkeypatch.setattr(assignment, "utcnow", slow)
    with Session(engine, expire_on_commit=False) as session:
        with pytest.raises(submission.LeaseExpired):
            submission.submit_annotation(session, annotator=late, data=submission_for(task))
        assert session.scalar(select(func.count()).select_from(Annotation)) == 0


def test_a_process_with_a_fast_clock_does_not_hand_out_a_live_lease_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        ps = make_prompt_set(session, prompts=1, annotators_per_prompt=1)
        first, second = make_user(session), make_user(session)
        lease(session, ps.id, first)
    fast = lambda: utcnow() + dt.timedelta(hours=3)  # noqa: E731  (past the lease)
    monkeypatch.setattr(assignment, "utcnow", fast)
    with Session(engine, expire_on_commit=False) as session:
        assert assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=second) is None


# --- item 7: two gold answers of one annotator at the same moment ------------------------


def test_two_concurrent_gold_submits_decide_the_standing_once_without_a_500(
    engine: Engine,
) -> None:
    """Before: each read "no standing yet" from its locking statement's old snapshot and
    both inserted one: a primary-key violation, answered 500."""
    with Session(engine, expire_on_commit=False) as session:
        ps = make_prompt_set(session, prompts=0, annotators_per_prompt=1, qualification_items=3)
        worker = make_user(session)
        rows = []
        for i in range(2):
            prompt = make_gold_prompt(session, ps, text=f"gold {i}")
            rows.append(make_lease(session, prompt, worker))
        session.commit()
        answers = [_answer(row, session) for row in rows]
    blocker = _holding(engine, _lock_row(User, worker.id))
    with ThreadPoolExecutor(2) as pool:
        futures = [
            _run(
                pool,
                engine,
                lambda s, a=a: submission.submit_annotation(s, annotator=worker, data=a),
            )
            for a in answers
        ]
        _lock_waiters(engine, 2)
        blocker.commit()
        blocker.close()
        results = [f.result(timeout=30) for f in futures]
    assert all(r.created for r in results)
    with Session(engine) as session:
        standing = session.get(AnnotatorStanding, (ps.id, worker.id))
        assert standing is not None and standing.state == "qualifying"
        assert standing.reason == "qualification round: 2 of 3 gold items answered"
