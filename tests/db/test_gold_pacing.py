"""Gold items cannot be told apart by where they come or what they show (issue 20, item 1):
each annotator meets gold at places and in an order of their own, drawn by the server, and
a gold item gets what any item of the set gets, the judge's suggested order included
(both backends)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.annotation import assignment, gold_pacing, submission
from app.annotation.models import Assignment
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from tests.factories.accounts import make_token, make_user
from tests.factories.annotation import submission_for
from tests.factories.judges import make_judge, make_judge_ranking
from tests.factories.prompt_sets import make_gold_prompt, make_prompt_set
from tests.support.gold_pace import expected_kinds


def _gold_set(session: Session, *, gold: int, regular: int, **fields) -> tuple[PromptSet, list]:
    """`regular` prompts with a seat for each of up to 6 annotators, and `gold` gold ones
    whose known best is the candidate at position 0."""
    ps = make_prompt_set(session, prompts=regular, annotators_per_prompt=6, **fields)
    golds = []
    for i in range(gold):
        golds.append(make_gold_prompt(session, ps, text=f"gold item {i}"))
    session.commit()
    return ps, golds


def _work_through(session: Session, ps: PromptSet, user) -> list[int]:
    """Every item the annotator is handed, in order (prompt ids)."""
    order = []
    while task := assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=user):
        order.append(task.prompt_id)
        submission.submit_annotation(session, annotator=user, data=submission_for(task))
    return order


def test_each_annotator_meets_gold_at_their_own_places_in_their_own_order(
    session: Session,
) -> None:
    ps, golds = _gold_set(session, gold=4, regular=16)
    gold_ids = {p.id for p in golds}
    users = [make_user(session) for _ in range(5)]
    places, orders = [], []
    for user in users:
        order = _work_through(session, ps, user)
        assert len(order) == 20 and gold_ids <= set(order)
        places.append(tuple(i for i, pid in enumerate(order) if pid in gold_ids))
        orders.append(tuple(pid for pid in order if pid in gold_ids))
    # Before: every annotator at items 5, 10, 15, 20, in prompt id order.
    assert len(set(places)) > 1, f"everyone met gold at the same places: {places[0]}"
    assert len(set(orders)) > 1, f"everyone met gold in the same order: {orders[0]}"
    # Exactly the server's draw: the annotator's gold turns and gold order from the seed.
    for user, place, gold_order in zip(users, places, orders, strict=True):
        kinds = expected_kinds(ps.gold_seed, user.id, gold=4, regular=16)
        assert place == tuple(i for i, is_gold in enumerate(kinds) if is_gold)
        assert list(gold_order) == gold_pacing.gold_order(ps.gold_seed, user.id, gold_ids)


def test_sets_get_their_own_secret_seed(session: Session) -> None:
    seeds = {make_prompt_set(session, prompts=0).gold_seed for _ in range(3)}
    assert len(seeds) == 3 and all(len(seed) == 32 for seed in seeds)


def test_a_gold_turn_is_not_drawn_again_on_a_reload_or_after_a_lapsed_lease(
    session: Session,
) -> None:
    ps, golds = _gold_set(session, gold=3, regular=12, lease_seconds=60)
    user = make_user(session)
    gold_ids = {p.id for p in golds}
    while task := assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=user):
        if task.prompt_id in gold_ids:
            break
        submission.submit_annotation(session, annotator=user, data=submission_for(task))
    assert task is not None
    reload = assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=user)
    assert reload is not None and reload.assignment_id == task.assignment_id
    later = task.lease_expires_at + dt.timedelta(seconds=1)
    again = assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=user, now=later)
    assert again is not None and again.prompt_id == task.prompt_id


def test_a_gold_item_gets_the_judges_suggestion_and_the_same_fields(
    client: TestClient, session: Session
) -> None:
    # A qualification round of one gold item, then a regular item: both judged.
    ps, (gold,) = _gold_set(session, gold=1, regular=1, qualification_items=1)
    regular = session.scalars(
        select(Prompt).where(Prompt.prompt_set_id == ps.id, Prompt.is_gold.is_(False))
    ).one()
    judge = make_judge(session, ps, suggest_to_annotators=True)
    for prompt in (gold, regular):
        ids = sorted(session.scalars(select(Candidate.id).where(Candidate.prompt_id == prompt.id)))
        make_judge_ranking(session, judge, prompt, [[cid] for cid in reversed(ids)])
    session.commit()
    user = make_user(session)
    headers = {"Authorization": f"Bearer {make_token(session, user)}"}
    first = client.get(f"/api/v1/tasks/next?prompt_set={ps.id}", headers=headers).json()
    assert _prompt_of(session, first) == gold.id  # the round hands out gold only
    gold_best = gold.gold_ranking[0][0]
    rest = [c["id"] for c in first["candidates"] if c["id"] != gold_best]
    body = {"assignment_id": first["assignment_id"], "ranking": [[gold_best], rest]}
    assert client.post("/api/v1/annotations", json=body, headers=headers).status_code == 201
    second = client.get(f"/api/v1/tasks/next?prompt_set={ps.id}", headers=headers).json()
    assert _prompt_of(session, second) == regular.id  # passed the round
    gold_ids = sorted(c["id"] for c in first["candidates"])
    assert first["suggested_order"] == gold_ids[::-1]  # before: null, the tell
    assert second["suggested_order"] is not None
    assert set(first) == set(second)


def _prompt_of(session: Session, task: dict) -> int:
    row = session.get(Assignment, task["assignment_id"])
    assert row is not None
    return row.prompt_id
