"""The assignment engine on SQLite and PostgreSQL: who gets which prompt, and when."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.annotation import assignment, submission
from app.annotation.leases import release_leases
from app.annotation.models import Annotation, Assignment
from app.annotation.submission import LeaseExpired
from app.core.db import utcnow
from app.prompt_sets.models import Prompt
from tests.factories.accounts import make_user
from tests.factories.annotation import lease, lease_and_submit, submission_for
from tests.factories.prompt_sets import make_prompt, make_prompt_set
from tests.support.gold_pace import expected_kinds
from tests.support.processes import calls_in_fresh_process


def _next(session: Session, ps, user, **kw):
    return assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=user, **kw)


def test_each_prompt_gets_k_distinct_annotators_and_nobody_twice(session: Session) -> None:
    ps = make_prompt_set(session, prompts=3, annotators_per_prompt=2)
    users = [make_user(session) for _ in range(4)]
    done: dict[int, list[int]] = {}
    for user in users:
        while (task := _next(session, ps, user)) is not None:
            submission.submit_annotation(session, annotator=user, data=submission_for(task))
            done.setdefault(task.prompt_id, []).append(user.id)
    assert sorted(len(v) for v in done.values()) == [2, 2, 2]
    assert all(len(set(v)) == len(v) for v in done.values())
    # users 1 and 2 finish everything (prefer started prompts); 3 and 4 find nothing left
    assert {u for v in done.values() for u in v} == {users[0].id, users[1].id}


def test_asking_again_with_a_live_lease_returns_the_same_item(session: Session) -> None:
    ps = make_prompt_set(session, prompts=3)
    user = make_user(session)
    first = lease(session, ps.id, user)
    again = lease(session, ps.id, user)
    assert (again.assignment_id, again.prompt_id) == (first.assignment_id, first.prompt_id)
    assert [c.label for c in again.candidates] == ["A", "B", "C", "D"]
    assert [c.id for c in again.candidates] == [c.id for c in first.candidates]


def test_prefers_prompts_that_already_have_annotations(session: Session) -> None:
    ps = make_prompt_set(session, prompts=4, annotators_per_prompt=3)
    first = lease_and_submit(session, ps.id, make_user(session))
    task = lease(session, ps.id, make_user(session))
    assert task.prompt_id == first.prompt_id


def test_only_ready_active_prompts_in_an_active_set_are_offered(session: Session) -> None:
    ps = make_prompt_set(session, prompts=0)
    make_prompt(session, ps, text="not generated yet", candidates=None)
    make_prompt(session, ps, text="archived", status="archived")
    session.commit()
    assert _next(session, ps, make_user(session)) is None
    paused = make_prompt_set(session, prompts=1, status="paused")
    with pytest.raises(assignment.PromptSetNotOpen, match="is paused"):
        _next(session, paused, make_user(session))


def test_an_expired_lease_frees_the_seat_and_cannot_be_submitted(session: Session) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=1, lease_seconds=60)
    slow, other = make_user(session), make_user(session)
    past = utcnow() - dt.timedelta(seconds=120)
    stale = lease(session, ps.id, slow, now=past)
    assert _next(session, ps, other, now=past) is None  # seat taken while the lease is live
    taken = lease(session, ps.id, other)  # now the lease has lapsed
    assert taken.prompt_id == stale.prompt_id
    assert _next(session, ps, slow) is None  # the only prompt is full again
    session.expire_all()
    assert session.get(Assignment, stale.assignment_id).status == "expired"
    with pytest.raises(LeaseExpired, match="expired"):
        submission.submit_annotation(session, annotator=slow, data=submission_for(stale))
    assert session.scalar(select(Annotation.id)) is None


def test_own_expired_lease_is_re_leased_by_reusing_the_row(session: Session) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=1, lease_seconds=60)
    user = make_user(session)
    stale = lease(session, ps.id, user, now=utcnow() - dt.timedelta(seconds=120))
    fresh = lease(session, ps.id, user)
    assert fresh.assignment_id == stale.assignment_id
    assert fresh.lease_expires_at > utcnow()
    result = submission.submit_annotation(session, annotator=user, data=submission_for(fresh))
    assert result.created


def test_skipped_prompt_returns_to_the_pool_but_never_to_the_skipper(session: Session) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=1)
    skipper, other = make_user(session), make_user(session)
    task = lease(session, ps.id, skipper)
    submission.skip_assignment(
        session, annotator=skipper, assignment_id=task.assignment_id, reason="off topic"
    )
    assert _next(session, ps, skipper) is None
    assert lease(session, ps.id, other).prompt_id == task.prompt_id
    row = session.get(Assignment, task.assignment_id)
    assert (row.status, row.skip_reason) == ("skipped", "off topic")


def test_released_leases_return_prompts_to_the_pool(session: Session) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=1)
    leaving, other = make_user(session), make_user(session)
    task = lease(session, ps.id, leaving)
    assert release_leases(session, annotator_id=leaving.id) == 1
    session.commit()
    assert lease(session, ps.id, other).prompt_id == task.prompt_id


def test_gold_prompts_go_to_everyone_beyond_k_and_are_mixed_in(session: Session) -> None:
    ps = make_prompt_set(session, prompts=6, annotators_per_prompt=1)
    gold = make_prompt(session, ps, text="gold item", is_gold=True)
    session.commit()
    seen_gold = []
    for _ in range(3):
        user = make_user(session)
        order = []
        while (task := _next(session, ps, user)) is not None:
            order.append(task.prompt_id)
            submission.submit_annotation(session, annotator=user, data=submission_for(task))
        seen_gold.append(gold.id in order)
        if len(seen_gold) == 1:
            # the first annotator meets the gold item at their first gold turn
            kinds = expected_kinds(ps.gold_seed, user.id, gold=1, regular=6)
            assert order.index(gold.id) == kinds.index(True)
    assert seen_gold == [True, True, True]
    n = session.scalars(select(Annotation).where(Annotation.prompt_id == gold.id)).all()
    assert len(n) == 3
    assert session.get(Prompt, gold.id).is_gold


def test_candidates_are_shuffled_stably_per_annotator(session: Session) -> None:
    ids = list(range(100, 108))
    orders = {tuple(assignment.candidate_order(a, 7, ids)) for a in range(1, 30)}
    assert len(orders) > 5  # different annotators see different orders
    assert assignment.candidate_order(3, 7, ids) == assignment.candidate_order(3, 7, ids[::-1])
    # The same on a reload served by another process (another PYTHONHASHSEED).
    calls = [(a, 7, ids) for a in range(1, 30)]
    elsewhere = calls_in_fresh_process(
        "app.annotation.assignment:candidate_order", calls, hash_seed=11
    )
    assert elsewhere == [assignment.candidate_order(*call) for call in calls]
