"""The reporting tallies (app.annotation.tallies) equal a from-scratch recomputation after
any history, and the reports read from them give the numbers the vote-by-vote
computation gives (Krippendorff's alpha, pairwise and per-annotator agreement, model wins).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, aliased

from app.accounts import service as accounts_service
from app.analytics import reports
from app.analytics.agreement import alpha_ordinal, annotator_agreement, pairwise_agreement_rate
from app.analytics.votes import votes_from_ranking
from app.annotation import assignment, leases, submission, tallies
from app.annotation.models import FLAG_KINDS, Annotation, Comparison
from app.annotation.prompt_removal import delete_or_archive_prompt
from app.annotation.submission import SubmissionInput
from app.core.db import utcnow
from app.core.errors import AppError
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from app.prompt_sets.ranking import rank_of
from app.prompt_sets.schemas import GoldIn
from tests.factories.accounts import make_user
from tests.factories.prompt_sets import make_prompt, make_prompt_set

MODELS = ["ours", "base", "other"]
TALLIES_REVISION = "5e1b7a2c9d40"  # migrations/versions/2026-11-30_reporting_tallies.py


def snapshot(session: Session, set_id: int) -> dict[str, Any]:
    """Every tally row of a set, comparable (zero counters left out: an increment that
    nets to zero leaves a row a rebuild does not write)."""
    t, m, c = tallies.AnnotatorPromptTally, tallies.ModelPairTally, tallies.RankCoincidence
    h = tallies.AnnotationHourTally
    rows = session.execute(select(t).where(t.prompt_set_id == set_id)).scalars()
    columns = [col.key for col in t.__table__.columns]
    return {
        "tally": sorted(tuple(getattr(r, k) for k in columns) for r in rows),
        "models": sorted(
            (w, lo, n)
            for w, lo, n in session.execute(
                select(m.winner, m.loser, m.n).where(m.prompt_set_id == set_id)
            )
            if n
        ),
        "coincidence": sorted(
            row
            for row in session.execute(
                select(c.coders, c.rank_a, c.rank_b, c.n).where(c.prompt_set_id == set_id)
            )
            if row[3]
        ),
        "hours": sorted(
            (hour, n)
            for hour, n in session.execute(select(h.hour, h.n).where(h.prompt_set_id == set_id))
            if n
        ),
    }


def assert_tallies_exact(session: Session, set_id: int) -> None:
    incremental = snapshot(session, set_id)
    tallies.rebuild(session.connection(), set_id)
    assert snapshot(session, set_id) == incremental


def assert_reports_match_votes(session: Session, set_id: int) -> None:
    """The tally-based reports against the vote-by-vote reference of before issue #16."""
    rows = session.execute(
        select(Annotation.prompt_id, Annotation.annotator_id, Annotation.ranking)
        .join(Prompt, Prompt.id == Annotation.prompt_id)
        .where(Prompt.prompt_set_id == set_id)
    ).all()
    votes = [v for p, a, r in rows for v in votes_from_ranking(p, a, r)]
    rank_tables: dict[int, dict[int, dict[int, int]]] = defaultdict(dict)
    for p, a, r in rows:
        rank_tables[p][a] = rank_of(r)
    stats = reports.prompt_set_stats(session, prompt_set_id=set_id)
    assert stats["annotations"] == len(rows)
    expected_alpha = alpha_ordinal(rank_tables)
    if expected_alpha is None:
        assert stats["alpha_ordinal"] is None
    else:
        assert stats["alpha_ordinal"] == pytest.approx(expected_alpha, abs=1e-9)
    assert stats["pairwise_agreement_rate"] == pytest.approx(pairwise_agreement_rate(votes))
    ties = sum(1 for v in votes if v.outcome == 0)
    assert stats["tie_rate"] == (pytest.approx(ties / len(votes)) if votes else None)
    comparisons = session.scalar(
        select(func.count())
        .select_from(Comparison)
        .join(Prompt, Prompt.id == Comparison.prompt_id)
        .where(Prompt.prompt_set_id == set_id)
    )
    assert stats["comparisons"] == comparisons
    chosen, rejected = aliased(Candidate), aliased(Candidate)
    wins = Counter(
        session.execute(
            select(chosen.model, rejected.model)
            .select_from(Comparison)
            .join(chosen, chosen.id == Comparison.chosen_candidate_id)
            .join(rejected, rejected.id == Comparison.rejected_candidate_id)
            .join(Prompt, Prompt.id == Comparison.prompt_id)
            .where(Prompt.prompt_set_id == set_id, chosen.model != rejected.model)
        ).all()
    )
    won = {s["model"]: (s["wins"], s["losses"]) for s in stats["models"]}
    for model in won:
        assert won[model] == (
            sum(n for (w, _), n in wins.items() if w == model),
            sum(n for (_, lo), n in wins.items() if lo == model),
        )
    agreement = annotator_agreement(votes)
    for row in reports.annotator_stats(session, set_id):
        score = agreement.get(row.user_id)
        assert row.agreement_votes == (score.total if score else 0)
        assert row.agreement == (score.rate if score else None)


def _random_ranking(rng: random.Random, ids: list[int]) -> list[list[int]]:
    shuffled = ids[:]
    rng.shuffle(shuffled)
    groups: list[list[int]] = []
    for cid in shuffled:
        if groups and rng.random() < 0.3:
            groups[-1].append(cid)  # a tie
        else:
            groups.append([cid])
    return groups


def _random_answer(rng: random.Random, task: assignment.TaskView, key: str) -> SubmissionInput:
    """A ranking with random ties, sometimes "all bad", sometimes a flag, random time."""
    ids = [c.id for c in task.candidates]
    return SubmissionInput(
        assignment_id=task.assignment_id,
        ranking=_random_ranking(rng, ids),
        all_bad=rng.random() < 0.1,
        flags={str(ids[0]): [rng.choice(FLAG_KINDS)]} if rng.random() < 0.2 else {},
        seconds_spent=float(rng.randint(1, 300)),
        idempotency_key=key,
    )


def _new_set(session: Session, prompts: int, k: int) -> PromptSet:
    ps = make_prompt_set(session, prompts=0, annotators_per_prompt=k, commit=False)
    for i in range(prompts):
        make_prompt(session, ps, text=f"prompt {i}", candidates=3, models=MODELS)
    session.commit()
    return ps


def test_tallies_equal_recomputation_after_random_histories(session: Session) -> None:
    rng = random.Random(1616)
    ps = _new_set(session, prompts=7, k=3)
    people = [make_user(session) for _ in range(6)]
    admin = make_user(session, role="admin")
    session.commit()
    clock = utcnow()
    last: dict[int, SubmissionInput] = {}
    for step in range(90):
        clock += dt.timedelta(seconds=rng.randint(1, 90))
        who = rng.choice(people)
        op = rng.choices(
            ["submit", "retry", "skip", "expire", "deactivate", "gold", "remove"],
            weights=[10, 2, 2, 2, 1, 1, 1],
        )[0]
        try:
            if op == "retry" and who.id in last:
                again = submission.submit_annotation(session, annotator=who, data=last[who.id])
                assert not again.created
            elif op in ("submit", "skip", "expire"):
                task = assignment.lease_next_task(
                    session, prompt_set_id=ps.id, annotator=who, now=clock
                )
                if task is None:
                    continue
                if op == "skip":
                    submission.skip_assignment(
                        session,
                        annotator=who,
                        assignment_id=task.assignment_id,
                        reason="unsure",
                        now=clock,
                    )
                    continue
                if op == "expire":  # the lease runs out: a late submit stores nothing
                    clock += dt.timedelta(seconds=ps.lease_seconds + 1)
                data = _random_answer(rng, task, f"k{step}")
                submission.submit_annotation(session, annotator=who, data=data, now=clock)
                last[who.id] = data
            elif op == "deactivate":
                active = not who.is_active
                accounts_service.change_active(session, user_id=who.id, active=active)
                if not active:
                    leases.release_leases(session, annotator_id=who.id)
                session.commit()
            elif op == "gold":
                prompt_id = rng.choice(
                    list(
                        session.scalars(
                            select(Prompt.id).where(
                                Prompt.prompt_set_id == ps.id, Prompt.status == "active"
                            )
                        )
                    )
                )
                if rng.random() < 0.6:
                    best = session.scalars(
                        select(Candidate.id).where(Candidate.prompt_id == prompt_id)
                    ).first()
                    prompt_set_service.set_gold(
                        session, prompt_id=prompt_id, data=GoldIn(best_candidate_id=best)
                    )
                else:
                    prompt_set_service.clear_gold(session, prompt_id=prompt_id)
            elif op == "remove":
                prompt_id = rng.choice(
                    list(session.scalars(select(Prompt.id).where(Prompt.prompt_set_id == ps.id)))
                )
                delete_or_archive_prompt(session, prompt_id=prompt_id)
                make_prompt(session, ps, text=f"more {step}", candidates=3, models=MODELS)
                session.commit()
        except AppError:
            session.rollback()  # a refused action (expired lease, inactive user): nothing written
        if step % 15 == 14:
            assert_tallies_exact(session, ps.id)
    assert admin.id
    assert session.scalar(select(func.count()).select_from(Annotation)) > 20
    assert_tallies_exact(session, ps.id)
    assert_reports_match_votes(session, ps.id)


def test_16_concurrent_submitters_leave_exact_tallies(fresh_postgres_url: str) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from app.core.db import make_engine

    engine: Engine = make_engine(fresh_postgres_url)
    with Session(engine, expire_on_commit=False) as session:
        ps = _new_set(session, prompts=12, k=4)
        people = [make_user(session) for _ in range(16)]
        session.commit()
    barrier = threading.Barrier(16)

    def annotate(i: int) -> int:
        rng = random.Random(i)
        done = 0
        barrier.wait()
        with Session(engine, expire_on_commit=False) as s:
            who = s.get(type(people[i]), people[i].id)
            assert who is not None
            while task := assignment.lease_next_task(s, prompt_set_id=ps.id, annotator=who):
                if rng.random() < 0.15:
                    submission.skip_assignment(
                        s, annotator=who, assignment_id=task.assignment_id, reason="busy"
                    )
                    continue
                data = _random_answer(rng, task, f"{i}-{done}")
                submission.submit_annotation(s, annotator=who, data=data)
                done += 1
        return done

    with ThreadPoolExecutor(16) as pool:
        total = sum(pool.map(annotate, range(16)))
    with Session(engine) as session:
        assert total == session.scalar(select(func.count()).select_from(Annotation)) > 30
        assert_tallies_exact(session, ps.id)
        assert_reports_match_votes(session, ps.id)
        session.rollback()
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_backfill_equals_the_recomputation(
    backend: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """Rows written before the tallies existed are back-filled by the migration to exactly
    what the submit path would have kept."""
    from app.core import migrate
    from app.core.db import make_engine
    from tests.support.databases import migrated, sqlite_url

    if backend == "sqlite":
        url = migrated(sqlite_url(tmp_path / "backfill.db"))
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    engine = make_engine(url)
    rng = random.Random(7)
    with Session(engine, expire_on_commit=False) as session:
        ps = _new_set(session, prompts=5, k=3)
        people = [make_user(session) for _ in range(4)]
        session.commit()
        for step in range(30):
            who = rng.choice(people)
            task = assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=who)
            if task is None:
                continue
            if step % 7 == 3:
                submission.skip_assignment(
                    session, annotator=who, assignment_id=task.assignment_id, reason="no"
                )
                continue
            data = _random_answer(rng, task, f"b{step}")
            submission.submit_annotation(session, annotator=who, data=data)
        kept = snapshot(session, ps.id)
        assert kept["tally"] and kept["coincidence"] and kept["models"] and kept["hours"]
    engine.dispose()
    head = migrate.head_revision()
    assert head is not None
    migrate.downgrade(url, f"{TALLIES_REVISION}-1")  # the tallies are gone ...
    migrate.upgrade(url, head)  # ... and back-filled from the annotations
    engine = make_engine(url)
    with Session(engine) as session:
        assert snapshot(session, ps.id) == kept
    engine.dispose()
