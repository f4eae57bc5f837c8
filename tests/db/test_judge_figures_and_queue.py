"""Issue 22, item 1: the judge figures summed from per-ranking counts (app.judges.figures)
and the adjudication queue as one query over the prompt rows' stored measure equal the
computations from the annotations themselves (tests/support/judge_queue_reference.py,
the code before) after a seeded random history, on SQLite and PostgreSQL; and the
migration back-fills both for data stored before it."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.annotation import adjudication, assignment, submission, tallies
from app.annotation.submission import SubmissionInput
from app.core.db import make_engine
from app.core.errors import AppError
from app.judges import figures
from app.judges.models import Judge, JudgeRanking
from app.judges.quality import judge_quality
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from tests.factories.accounts import make_user
from tests.factories.judges import make_judge, make_judge_ranking
from tests.factories.prompt_sets import make_prompt, make_prompt_set
from tests.support import judge_queue_reference as reference

FIGURES_REVISION = "3c9e5a7b1d24"  # the revision before this item's migration


def _ranking(rng: random.Random, ids: list[int]) -> list[list[int]]:
    shuffled = ids[:]
    rng.shuffle(shuffled)
    groups: list[list[int]] = []
    for cid in shuffled:
        if groups and rng.random() < 0.2:
            groups[-1].append(cid)  # a tie
        else:
            groups.append([cid])
    return groups


def _candidates(session: Session, prompt_id: int) -> list[int]:
    query = select(Candidate.id).where(Candidate.prompt_id == prompt_id).order_by(Candidate.id)
    return list(session.scalars(query))


def _build(session: Session, rng: random.Random) -> tuple[PromptSet, list[Judge], User]:
    ps = make_prompt_set(
        session,
        prompts=0,
        annotators_per_prompt=2,
        annotators_max=4,
        escalate_below_tau=0.4,
        escalate_on_split_top=True,
        commit=False,
    )
    for i in range(10):
        prompt = make_prompt(
            session, ps, text=f"figures {ps.id} {i}", candidates=rng.choice([2, 3, 4])
        )
        for cid in _candidates(session, prompt.id):
            session.get(Candidate, cid).text = "x" * rng.choice([5, 10, 10, 40])  # type: ignore[union-attr]
    listwise = make_judge(session, ps, name="listwise")
    pairwise = make_judge(session, ps, name="pairwise", mode="pairwise", version=2)
    make_judge(session, ps, name="idle")  # no rankings at all
    admin = make_user(session, role="admin")
    session.commit()
    return ps, [listwise, pairwise], admin


def _add_judge_ranking(session: Session, rng: random.Random, ps: PromptSet, judge: Judge) -> None:
    ranked = select(JudgeRanking.prompt_id).where(JudgeRanking.judge_id == judge.id)
    todo = list(
        session.scalars(
            select(Prompt).where(Prompt.prompt_set_id == ps.id, Prompt.id.not_in(ranked))
        )
    )
    if not todo:
        return
    prompt = rng.choice(todo)
    ids = _candidates(session, prompt.id)
    if rng.random() < 0.15:
        make_judge_ranking(session, judge, prompt, None)  # a failure: not in the figures
    else:
        pairs = len(ids) * (len(ids) - 1) // 2
        flips = rng.randint(0, pairs) if judge.mode == "pairwise" else None
        make_judge_ranking(
            session,
            judge,
            prompt,
            _ranking(rng, ids),
            pairs_judged=pairs if judge.mode == "pairwise" else None,
            position_flips=flips,
        )
    session.commit()


def _queue_now(session: Session, ps: PromptSet) -> list[tuple[Any, ...]]:
    return [
        (q.prompt_id, q.disagreement.rankings, q.disagreement.top_split, q.disagreement.mean_tau)
        for q in adjudication.queue(session, prompt_set_id=ps.id)
    ]


def _queue_then(session: Session, ps: PromptSet) -> list[tuple[Any, ...]]:
    return [
        (pid, d.rankings, d.top_split, pytest.approx(d.mean_tau, rel=1e-12, abs=1e-12))
        for pid, d in reference.queue(session, ps.id)
    ]


def _stored(session: Session, ps: PromptSet) -> list[Any]:
    session.expire_all()
    prompts = session.execute(
        select(Prompt.id, Prompt.human_rankings, Prompt.human_top_split, Prompt.human_mean_tau)
        .where(Prompt.prompt_set_id == ps.id)
        .order_by(Prompt.id)
    ).all()
    t = JudgeRanking
    rankings = session.execute(
        select(t.id, t.figures_at, t.agree, t.agree_total, t.judge_longer, t.judge_unequal)
        .add_columns(t.people_longer, t.people_unequal)
        .where(t.prompt_id.in_([p.id for p in prompts]), t.status == "ranked")
        .order_by(t.id)
    ).all()
    return [prompts, rankings]


def assert_same_as_before(session: Session, ps: PromptSet) -> None:
    assert judge_quality(session, ps.id) == reference.judge_quality(session, ps.id)
    assert adjudication.queue_length(session, prompt_set_id=ps.id) == len(_queue_now(session, ps))
    assert _queue_now(session, ps) == _queue_then(session, ps)
    kept = _stored(session, ps)  # all fresh now: the view refreshed the stale ones
    tallies.rebuild_measures(session.connection(), ps.id)
    figures.rebuild(session.connection(), ps.id)
    assert _stored(session, ps) == kept


def _history(session: Session, steps: int, seed: int) -> PromptSet:
    """Submits (random rankings with ties), skips, new judge rankings and failures,
    adjudications and changes of the escalation rule, checked every 15 steps."""
    rng = random.Random(seed)
    ps, judges, admin = _build(session, rng)
    people = [make_user(session) for _ in range(6)]
    session.commit()
    for _ in range(6):
        _add_judge_ranking(session, rng, ps, judges[0])
    for step in range(steps):
        op = rng.choices(["submit", "skip", "judge", "adjudicate", "rule"], [10, 1, 3, 1, 1])[0]
        try:
            if op in ("submit", "skip"):
                who = rng.choice(people)
                task = assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=who)
                if task is None:
                    continue
                if op == "skip":
                    submission.skip_assignment(
                        session, annotator=who, assignment_id=task.assignment_id, reason="unsure"
                    )
                    continue
                data = SubmissionInput(
                    assignment_id=task.assignment_id,
                    ranking=_ranking(rng, [c.id for c in task.candidates]),
                    idempotency_key=f"f{seed}-{step}",
                )
                submission.submit_annotation(session, annotator=who, data=data)
            elif op == "judge":
                _add_judge_ranking(session, rng, ps, rng.choice(judges))
            elif op == "adjudicate":
                waiting = adjudication.queue(session, prompt_set_id=ps.id)
                if waiting:
                    prompt_id = rng.choice(waiting).prompt_id
                    adjudication.adjudicate(
                        session,
                        prompt_set_id=ps.id,
                        prompt_id=prompt_id,
                        adjudicator=admin,
                        ranking=_ranking(rng, _candidates(session, prompt_id)),
                    )
            else:  # the rule changes after the measures were stored
                session.execute(
                    update(PromptSet)
                    .where(PromptSet.id == ps.id)
                    .values(
                        escalate_below_tau=rng.choice([0.0, 0.4, 0.8, 1.0]),
                        escalate_on_split_top=rng.random() < 0.5,
                    )
                )
                session.commit()
                session.expire_all()
        except AppError:
            session.rollback()
        if step % 15 == 14:
            assert_same_as_before(session, ps)
    return ps


def test_stored_figures_and_queue_equal_the_full_recomputation(session: Session) -> None:
    ps = _history(session, steps=75, seed=22)
    assert_same_as_before(session, ps)
    rows = {r["name"]: r for r in judge_quality(session, ps.id)}
    assert rows["listwise"]["prompts_with_people"] > 0  # the history exercised the figures
    assert rows["listwise"]["human_agreement"]["total"] > 0
    assert rows["pairwise"]["position_flips"] is not None
    assert rows["idle"]["rankings"] == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_backfills_figures_and_measures(
    backend: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """Data stored before this item's columns existed shows the same figures and queue
    after the upgrade as the full recomputation."""
    from app.core import migrate
    from tests.support.databases import migrated, sqlite_url

    if backend == "sqlite":
        url = migrated(sqlite_url(tmp_path / "figures.db"))
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        ps = _history(session, steps=30, seed=5)
        set_id = ps.id
        before = reference.judge_quality(session, set_id), _queue_then(session, ps)
        assert sum(row["rankings"] for row in before[0]) > 0
    engine.dispose()
    head = migrate.head_revision()
    assert head is not None
    migrate.downgrade(url, FIGURES_REVISION)
    migrate.upgrade(url, head)
    engine = make_engine(url)
    with Session(engine) as session:
        ps = session.get(PromptSet, set_id)
        assert ps is not None
        stale = session.execute(figures.sums_by_judge(set_id)).all()
        assert sum(row.stale for row in stale) == 0  # the back-fill left nothing to refresh
        assert (judge_quality(session, set_id), _queue_now(session, ps)) == before
    engine.dispose()
