"""Qualification and calibration on SQLite and PostgreSQL: the round, the pause, the lift."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.annotation import assignment, gold_pacing, standing, submission
from app.annotation.assignment import TaskView
from app.annotation.models import Annotation, AnnotatorStanding, Assignment
from app.annotation.standing import AnnotatorHeld, NothingToLift
from app.core.db import make_engine
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Prompt, PromptSet
from tests.factories.accounts import make_user
from tests.factories.annotation import submission_for
from tests.factories.prompt_sets import make_gold_prompt, make_prompt_set
from tests.support.gold_pace import expected_kinds


def make_gold_set(session: Session, *, gold: int, regular: int, **fields: Any) -> PromptSet:
    """A set with `regular` prompts and `gold` gold prompts whose known best is the
    candidate at position 0."""
    ps = make_prompt_set(session, prompts=regular, annotators_per_prompt=3, **fields)
    for i in range(gold):
        make_gold_prompt(session, ps, text=f"gold item {i}")
    session.commit()
    return ps


def next_task(session: Session, ps: PromptSet, user: User) -> TaskView | None:
    return assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=user)


def answer(session: Session, task: TaskView, user: User, *, agree: bool = True) -> bool:
    """Submit the task; on a gold item, agree with the gold ranking or put its best last.
    Returns whether the item was gold."""
    prompt = session.get(Prompt, task.prompt_id)
    assert prompt is not None
    data = submission_for(task)
    if prompt.is_gold:
        assert prompt.gold_ranking is not None
        best, others = prompt.gold_ranking
        ranking = [best, others] if agree else [others, best]
        data = submission_for(task, ranking=ranking)
    submission.submit_annotation(session, annotator=user, data=data)
    return prompt.is_gold


def standing_of(session: Session, ps: PromptSet, user: User) -> AnnotatorStanding | None:
    session.expire_all()
    return session.get(AnnotatorStanding, (ps.id, user.id))


def assignments_of(session: Session, user: User) -> int:
    query = select(func.count()).select_from(Assignment).where(Assignment.annotator_id == user.id)
    return session.scalar(query) or 0


def qualify(session: Session, ps: PromptSet, user: User, agreed: list[bool]) -> None:
    """Answer the qualification round; every item handed out during it must be gold."""
    for agree in agreed:
        task = next_task(session, ps, user)
        assert task is not None
        assert answer(session, task, user, agree=agree), "a qualification item was not gold"


def test_passing_the_round_opens_real_items(session: Session) -> None:
    ps = make_gold_set(
        session, gold=6, regular=4, qualification_items=5, qualification_min_agreement=0.8
    )
    user = make_user(session)
    # A set secret under which item 6 (number 5) is not one of this annotator's gold
    # turns: the sixth gold prompt would otherwise come next, as pacing wants.
    ps.gold_seed = next(
        seed
        for seed in (f"{n:032x}" for n in range(100))
        if not gold_pacing.is_gold_turn(seed, user.id, 5)
    )
    qualify(session, ps, user, [True, True, False, True])
    row = standing_of(session, ps, user)
    assert row is not None and row.state == "qualifying"
    assert row.reason == "qualification round: 4 of 5 gold items answered"
    qualify(session, ps, user, [True])
    row = standing_of(session, ps, user)
    assert row is not None and row.state == "qualified"
    assert row.reason == "passed the qualification round: 4 of 5 gold items agreed, 80% needed"
    assert row.updated_by_id is None
    task = next_task(session, ps, user)
    assert task is not None and not session.get(Prompt, task.prompt_id).is_gold


def test_failing_stops_real_items_and_says_why(session: Session) -> None:
    ps = make_gold_set(
        session, gold=10, regular=4, qualification_items=5, qualification_min_agreement=0.8
    )
    user, other = make_user(session), make_user(session)
    qualify(session, ps, user, [True, False, True, False, True])
    row = standing_of(session, ps, user)
    assert row is not None and row.state == "failed"
    assert row.reason == "3 of 5 gold items agreed, 80% needed"
    before = assignments_of(session, user)
    with pytest.raises(AnnotatorHeld) as held:
        next_task(session, ps, user)
    assert held.value.status == 403
    assert "did not pass the qualification round" in held.value.message
    assert "3 of 5 gold items agreed, 80% needed" in held.value.message
    assert assignments_of(session, user) == before  # nothing leased, nothing deleted
    assert standing.hold_message(session, ps, user.id) == held.value.message
    answers = select(func.count()).where(Annotation.annotator_id == user.id)
    assert session.scalar(answers) == 5
    # Someone else is not affected: their round starts with gold as usual.
    task = next_task(session, ps, other)
    assert task is not None and session.get(Prompt, task.prompt_id).is_gold


def test_a_failed_annotator_retries_with_unseen_gold_after_an_admin_lifts(
    session: Session,
) -> None:
    ps = make_gold_set(
        session, gold=10, regular=4, qualification_items=5, qualification_min_agreement=0.8
    )
    user, admin = make_user(session), make_user(session, role="admin", username="boss")
    qualify(session, ps, user, [False] * 5)
    seen = set(
        session.scalars(select(Assignment.prompt_id).where(Assignment.annotator_id == user.id))
    )
    lifted = standing.lift(session, prompt_set_id=ps.id, annotator_id=user.id, admin=admin)
    assert lifted.state == "qualifying" and lifted.updated_by == "boss"
    assert lifted.reason.startswith("retry of the qualification round allowed by boss")
    assert "was failed: 0 of 5 gold items agreed" in lifted.reason
    # The earlier round's answers no longer count: five fresh gold items decide again.
    for _ in range(5):
        task = next_task(session, ps, user)
        assert task is not None and task.prompt_id not in seen
        assert answer(session, task, user, agree=True)
    row = standing_of(session, ps, user)
    assert row is not None and row.state == "qualified"
    task = next_task(session, ps, user)
    assert task is not None and not session.get(Prompt, task.prompt_id).is_gold
    with pytest.raises(NothingToLift):
        standing.lift(session, prompt_set_id=ps.id, annotator_id=user.id, admin=admin)


def _work_until_held(session: Session, ps: PromptSet, user: User, gold_agrees: list[bool]) -> int:
    """Annotate (gold answers follow `gold_agrees`, then agree) until held; returns how
    many gold answers were given."""
    golds = 0
    while True:
        try:
            task = next_task(session, ps, user)
        except AnnotatorHeld:
            return golds
        assert task is not None, "ran out of items before the pause"
        agree = gold_agrees[golds] if golds < len(gold_agrees) else True
        golds += answer(session, task, user, agree=agree)


def test_a_falling_rolling_gold_accuracy_pauses_and_an_admin_lifts_it(session: Session) -> None:
    ps = make_gold_set(session, gold=8, regular=30, gold_pause_below=0.6, gold_window=3)
    user, admin = make_user(session), make_user(session, role="admin", username="lead")
    golds = _work_until_held(session, ps, user, [True, True, False, False])
    # [T, T, F] is 67% over the window, [T, F, F] is 33%: paused at the fourth gold answer
    assert golds == 4
    row = standing_of(session, ps, user)
    assert row is not None and row.state == "paused"
    assert row.reason == "1 of the last 3 gold items agreed, 60% needed"
    message = standing.hold_message(session, ps, user.id)
    assert message is not None and "You are paused in" in message
    assert "1 of the last 3 gold items agreed, 60% needed" in message

    lifted = standing.lift(session, prompt_set_id=ps.id, annotator_id=user.id, admin=admin)
    assert lifted.state == "qualified" and lifted.updated_by == "lead"
    assert (
        "pause lifted by lead" in lifted.reason and "was paused: 1 of the last 3" in lifted.reason
    )
    # Items resume, and the window starts afresh: one more miss does not pause again.
    task = next_task(session, ps, user)
    assert task is not None
    golds = 0
    while golds < 1 and task is not None:
        golds += answer(session, task, user, agree=False)
        task = next_task(session, ps, user)
    row = standing_of(session, ps, user)
    assert row is not None and row.state == "qualified"


def test_an_accurate_annotator_is_never_paused(session: Session) -> None:
    ps = make_gold_set(session, gold=4, regular=16, gold_pause_below=0.6, gold_window=3)
    user = make_user(session)
    golds = 0
    while (task := next_task(session, ps, user)) is not None:
        golds += answer(session, task, user, agree=True)
    assert golds == 4
    assert standing_of(session, ps, user) is None  # nothing to record


def test_without_qualification_nothing_changes(session: Session) -> None:
    ps = make_gold_set(session, gold=2, regular=8)
    user = make_user(session)
    kinds = []
    while (task := next_task(session, ps, user)) is not None:
        kinds.append(answer(session, task, user, agree=False))
    # The usual pace (gold on the annotator's own gold turns); no standing is written.
    assert kinds == expected_kinds(ps.gold_seed, user.id, gold=2, regular=8)
    assert sum(kinds) == 2 and len(kinds) == 10
    assert session.scalar(select(func.count()).select_from(AnnotatorStanding)) == 0


def test_too_few_gold_prompts_is_said_to_the_admin_and_the_annotator(session: Session) -> None:
    ps = make_gold_set(session, gold=3, regular=4, qualification_items=5)
    warning = prompt_set_service.qualification_warning(session, ps)
    assert warning is not None and "needs 5 gold items but this set has 3" in warning
    user = make_user(session)
    qualify(session, ps, user, [True, True, True])
    with pytest.raises(AnnotatorHeld) as held:
        next_task(session, ps, user)
    assert "cannot finish your qualification round yet" in held.value.message
    assert "needs 5 gold items but this set has 3" in held.value.message
    # Marking two more gold prompts lets the round finish.
    for prompt in session.scalars(
        select(Prompt).where(Prompt.prompt_set_id == ps.id, Prompt.is_gold.is_(False)).limit(2)
    ).all():
        ids = prompt_set_service.candidate_ids(session, prompt.id)
        prompt.is_gold, prompt.gold_ranking = True, [[ids[0]], ids[1:]]
    session.commit()
    assert prompt_set_service.qualification_warning(session, ps) is None
    qualify(session, ps, user, [True, True])
    row = standing_of(session, ps, user)
    assert row is not None and row.state == "qualified"


def test_a_claim_that_waited_for_the_annotators_lock_sees_the_standing_decided_meanwhile(
    fresh_postgres_url: str,
) -> None:
    """PostgreSQL: a claim queued behind a gold submit that pauses the annotator (it holds
    their row lock) must see the pause once it gets the lock, not its older snapshot."""
    engine = make_engine(fresh_postgres_url)
    try:
        with Session(engine, expire_on_commit=False) as setup:
            ps = make_prompt_set(setup, prompts=2)
            user = make_user(setup)
            ps_id, user_id = ps.id, user.id
        outcome: dict[str, Any] = {}

        def claim() -> None:
            with Session(engine) as other:
                who = other.get(User, user_id)
                assert who is not None
                try:
                    outcome["task"] = assignment.lease_next_task(
                        other, prompt_set_id=ps_id, annotator=who
                    )
                except AnnotatorHeld as exc:
                    outcome["held"] = exc.message

        with engine.connect() as submit:  # the gold submit that pauses them
            submit.execute(select(User.id).where(User.id == user_id).with_for_update())
            submit.execute(
                insert(AnnotatorStanding).values(
                    prompt_set_id=ps_id, annotator_id=user_id, state="paused", reason="0 of 2"
                )
            )
            waiter = threading.Thread(target=claim)
            waiter.start()
            with engine.connect() as watch:
                for _ in range(200):  # until the claim waits for the annotator's row lock
                    waiting = watch.scalar(
                        text(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                        )
                    )
                    if waiting:
                        break
                    time.sleep(0.05)
            submit.commit()
            waiter.join(30)
        assert "task" not in outcome and "paused" in outcome["held"]
    finally:
        engine.dispose()
