"""The signal tallies (app.annotation.signal_tallies, issue 22) equal a from-scratch
recomputation after a seeded random history, the signals read from them equal the ones
computed from the annotations themselves, the stored speed baseline is one cache every
app process reads, and the pages say "as of" when it is stale."""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy.stats import median_abs_deviation
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from app.accounts import service as accounts_service
from app.analytics import loaders, reports, signals, speed_baselines
from app.annotation import assignment, leases, signal_tallies, submission
from app.annotation.models import Annotation
from app.annotation.prompt_removal import delete_or_archive_prompt
from app.annotation.signal_tallies import AnnotatorPatternTally, AnnotatorSignalTally
from app.annotation.submission import SubmissionInput
from app.core.db import make_engine, utcnow
from app.core.errors import AppError
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from tests.factories.accounts import DEFAULT_PASSWORD, make_user
from tests.factories.annotation import make_annotation
from tests.factories.prompt_sets import make_prompt, make_prompt_set
from tests.factories.signals import make_signal_crowd
from tests.support.http import login

SIGNAL_TALLIES_REVISION = (
    "3c9e5a7b1d24"  # migrations/versions/2026-12-07_annotator_signal_tallies.py
)
FLOATS = {"position_expected", "position_variance", "untouched_expected", "untouched_variance"}
FLOATS |= {"run_longest_chance", "log_rate_sum"}


def snapshot(session: Session, set_ids: list[int]) -> dict[str, Any]:
    t, p = AnnotatorSignalTally, AnnotatorPatternTally
    columns = [c.key for c in t.__table__.columns]
    rows = session.scalars(select(t).where(t.prompt_set_id.in_(set_ids))).all()
    return {
        "tally": sorted(
            (
                tuple(
                    pytest.approx(getattr(r, k), rel=1e-12) if k in FLOATS else getattr(r, k)
                    for k in columns
                )
                for r in rows
            ),
            key=lambda row: (row[0], row[1]),
        ),
        "patterns": sorted(
            session.execute(
                select(p.prompt_set_id, p.annotator_id, p.pattern, p.n).where(
                    p.prompt_set_id.in_(set_ids)
                )
            ).all()
        ),
    }


def assert_tallies_exact(session: Session, set_ids: list[int]) -> None:
    incremental = snapshot(session, set_ids)
    for set_id in set_ids:
        signal_tallies.rebuild(session.connection(), set_id)
    # Floating sums may differ in the last bit: the rebuild adds in another order.
    assert snapshot(session, set_ids) == incremental


def _random_ranking(rng: random.Random, ids: list[int]) -> list[list[int]]:
    shuffled = ids[:]
    rng.shuffle(shuffled)
    if rng.random() < 0.3:  # a straight-liner's habit: the order shown
        shuffled = ids[:]
    groups: list[list[int]] = []
    for cid in shuffled:
        if groups and rng.random() < 0.25:
            groups[-1].append(cid)  # a tie
        else:
            groups.append([cid])
    return groups


def _new_set(session: Session, name: str, prompts: int, rng: random.Random) -> PromptSet:
    ps = make_prompt_set(session, prompts=0, annotators_per_prompt=3, name=name, commit=False)
    for i in range(prompts):
        make_prompt(session, ps, text=f"{name} prompt {i} " + "x" * rng.randint(0, 400))
    session.commit()
    return ps


def _history(session: Session, steps: int, seed: int) -> list[int]:
    """Submits (random rankings, ties, order kept or changed or unsaid, random times) over
    two sets, with retries, skips, expired leases, deactivations and prompt removals."""
    rng = random.Random(seed)
    sets = [_new_set(session, f"signals {seed} {i}", 12, rng) for i in range(2)]
    people = [make_user(session) for _ in range(5)]
    session.commit()
    clock = utcnow()
    last: dict[int, SubmissionInput] = {}
    for step in range(steps):
        clock += dt.timedelta(seconds=rng.randint(1, 5))
        who, ps = rng.choice(people), rng.choice(sets)
        op = rng.choices(
            ["submit", "retry", "skip", "expire", "deactivate", "remove"],
            weights=[12, 2, 2, 1, 1, 1],
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
                clock += dt.timedelta(seconds=rng.choice([0.5, 2, 20, 90, 400]))
                if op == "expire":  # the lease runs out: a late submit stores nothing
                    clock += dt.timedelta(seconds=ps.lease_seconds + 1)
                data = SubmissionInput(
                    assignment_id=task.assignment_id,
                    ranking=_random_ranking(rng, [c.id for c in task.candidates]),
                    order_changed=rng.choice([True, False, None]),
                    idempotency_key=f"s{seed}-{step}",
                )
                submission.submit_annotation(session, annotator=who, data=data, now=clock)
                last[who.id] = data
            elif op == "deactivate":
                active = not who.is_active
                accounts_service.change_active(session, user_id=who.id, active=active)
                if not active:
                    leases.release_leases(session, annotator_id=who.id)
                session.commit()
            elif op == "remove":
                prompt_id = rng.choice(
                    list(session.scalars(select(Prompt.id).where(Prompt.prompt_set_id == ps.id)))
                )
                delete_or_archive_prompt(session, prompt_id=prompt_id)
                make_prompt(session, ps, text=f"more {step}")
                session.commit()
        except AppError:
            session.rollback()  # a refused action (expired lease, inactive user): nothing written
        if step % 40 == 39:
            assert_tallies_exact(session, [s.id for s in sets])
    return [s.id for s in sets]


def _same(a: signals.Signal, b: signals.Signal) -> None:
    assert (a.key, a.flagged, a.enough_data, a.threshold) == (
        b.key,
        b.flagged,
        b.enough_data,
        b.threshold,
    )
    assert list(a.numbers) == list(b.numbers)
    for name in a.numbers:
        if b.numbers[name] is None:
            assert a.numbers[name] is None, (a.key, name)
        else:
            assert a.numbers[name] == pytest.approx(b.numbers[name], rel=1e-9), (a.key, name)


def test_signal_tallies_equal_recomputation_after_random_histories(session: Session) -> None:
    set_ids = _history(session, steps=160, seed=2222)
    assert session.scalar(select(func.count()).select_from(Annotation)) > 60
    assert_tallies_exact(session, set_ids)
    for set_id in set_ids:
        speed_baselines.refresh(session, set_id)

    # The signals from the tallies (what the pages show) against the same signals computed
    # from the annotations themselves, set by set (straight-lining runs are per set).
    for set_id in set_ids:
        tallied = reports.annotator_signals(session, [set_id])
        rows = list(loaders.iter_signal_rows(session, [set_id]))
        reference = signals.stream_signals(rows)
        assert set(tallied) == set(reference) and reference
        for annotator_id, streamed in reference.items():
            for a, b in zip(tallied[annotator_id].signals, streamed, strict=False):
                _same(a, b)

        # The speed baseline and z worked from the rows with scipy, independently.
        rates = [
            (r.annotator_id, math.log(max(r.seconds * 1000 / r.chars, 0.01)))
            for r in rows
            if r.chars
        ]
        values = np.array([v for _, v in rates])
        median = float(np.median(values))
        scale = 1.4826 * max(float(median_abs_deviation(values)), 0.05)
        for annotator_id, signal_list in tallied.items():
            mine = [v for who, v in rates if who == annotator_id]
            speed = next(s for s in signal_list.signals if s.key == "too_fast")
            expected = float(np.mean([(v - median) / scale for v in mine]))
            assert speed.value == pytest.approx(expected, rel=1e-9)
            assert speed.numbers["items with a set baseline"] == len(mine)


def test_straight_lining_counts_runs_within_each_set(session: Session) -> None:
    """A run of the same display pattern in one set is not broken by items of another set
    in between (issue 22: runs are tallied per set, the longest counts)."""
    ps_a, ps_b = make_prompt_set(session, prompts=12), make_prompt_set(session, prompts=12)
    who = make_user(session)
    clock = utcnow() - dt.timedelta(hours=1)
    prompts = {
        s.id: session.scalars(select(Prompt).where(Prompt.prompt_set_id == s.id)).all()
        for s in (ps_a, ps_b)
    }
    for i in range(12):
        for ps in (ps_a, ps_b):
            prompt = prompts[ps.id][i]
            ids = session.scalars(select(Candidate.id).where(Candidate.prompt_id == prompt.id))
            shown = assignment.candidate_order(who.id, prompt.id, list(ids))
            # Set A: always the order shown; set B: alternately reversed, never a run.
            order = shown if ps is ps_a or i % 2 else shown[::-1]
            clock += dt.timedelta(minutes=1)
            make_annotation(session, prompt, who, [[c] for c in order], created_at=clock)
    runs = next(
        s for s in reports.annotator_signals(session)[who.id].signals if s.key == "straight_lining"
    )
    assert runs.numbers["longest run"] == 12 and runs.numbers["items"] == 24


def _wait_for_baseline(engine: Engine, set_id: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with Session(engine) as s:
            if speed_baselines.load(s, [set_id]):
                return
        time.sleep(0.2)
    raise AssertionError("the background refresh stored no baseline")


def test_two_app_processes_read_one_signals_cache(fresh_postgres_url: str) -> None:
    """Process A's page view refreshes the stale speed baseline in the background and
    stores it; process B (another engine: another pool, another process's view) reads it
    from the database and computes nothing."""
    first, second = make_engine(fresh_postgres_url), make_engine(fresh_postgres_url)
    try:
        with Session(first, expire_on_commit=False) as session:
            crowd = make_signal_crowd(session, prompts=30)
            session.execute(delete(speed_baselines.SpeedBaseline))  # never computed yet
            session.commit()
            before = reports.annotator_signals(session)  # A's view starts the refresh
            assert not before[crowd.spammer.id].signals[2].flagged  # no baseline yet
            assert not reports.signals_as_of(session).current
        _wait_for_baseline(first, crowd.prompt_set.id)
        with Session(second) as session:
            stored = speed_baselines.load(session, [crowd.prompt_set.id])
            status = reports.signals_as_of(session)
            assert status.current and status.as_of == stored[crowd.prompt_set.id].computed_at
            after = reports.annotator_signals(session)
            speed = after[crowd.spammer.id].signals[2]
            assert speed.key == "too_fast" and speed.flagged
            # B found the baseline current: it started no refresh of its own.
            assert not [
                t
                for t in __import__("threading").enumerate()
                if t.name.startswith("speed-baseline")
            ]
            assert speed_baselines.load(session, [crowd.prompt_set.id]) == stored
    finally:
        first.dispose()
        second.dispose()


def test_people_page_says_as_of_when_the_speed_baseline_is_stale(
    client: TestClient, session: Session
) -> None:
    crowd = make_signal_crowd(session, prompts=30)
    make_user(session, role="admin", username="asof-admin")
    assert login(client, "asof-admin", DEFAULT_PASSWORD).status_code == 303
    current = client.get("/admin/users").text
    assert "Speed baselines as of" in current and "recomputing" not in current

    newcomer = make_user(session)
    prompt = session.scalars(
        select(Prompt).where(Prompt.prompt_set_id == crowd.prompt_set.id).order_by(Prompt.id)
    ).first()
    assert prompt is not None
    ids = session.scalars(select(Candidate.id).where(Candidate.prompt_id == prompt.id)).all()
    make_annotation(session, prompt, newcomer, [[c] for c in ids])
    session.commit()
    stored = speed_baselines.load(session, [crowd.prompt_set.id])[crowd.prompt_set.id]
    stale = client.get("/admin/users").text
    when = stored.computed_at.strftime("%Y-%m-%d %H:%M:%S")
    assert f"Speed signal as of {when} UTC" in stale and "recomputing" in stale
    # The newcomer's other signals are already counted (they come from the tallies).
    page = client.get(f"/admin/users/{newcomer.id}").text
    assert f"Speed signal as of {when} UTC" in page
    assert 'data-number="items">1<' in page


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_backfill_equals_what_the_submits_kept(
    backend: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """Annotations stored before the signal tallies existed are back-filled by the
    migration to what the submit path keeps."""
    from app.core import migrate
    from tests.support.databases import migrated, sqlite_url

    if backend == "sqlite":
        url = migrated(sqlite_url(tmp_path / "signals.db"))
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        set_ids = _history(session, steps=60, seed=7)
        kept = snapshot(session, set_ids)
        assert kept["tally"] and kept["patterns"]
    engine.dispose()
    head = migrate.head_revision()
    assert head is not None
    migrate.downgrade(url, SIGNAL_TALLIES_REVISION + "-1")  # the tallies are gone ...
    migrate.upgrade(url, head)  # ... and back-filled from the annotations
    engine = make_engine(url)
    with Session(engine) as session:
        assert snapshot(session, set_ids) == kept
    engine.dispose()
