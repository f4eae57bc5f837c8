"""Escalation under 16 concurrent annotators over real HTTP on PostgreSQL (issue 13):
every lease invariant holds while seat targets rise, and the queue gets what is left."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.orm import Session

from app.annotation import adjudication
from app.annotation.disagreement import EscalationRule, measure
from app.annotation.models import Annotation, Assignment
from app.core.db import make_engine, utcnow
from app.prompt_sets.models import Prompt
from tests.db.test_reporting_tallies import assert_tallies_exact
from tests.factories.prompt_sets import make_prompt_set
from tests.support.crowd import all_at_once, annotators, next_item
from tests.support.server import ranklab_env, start_server

ANNOTATORS = 16
PROMPTS = 12
K, K_MAX = 2, 4
RULE = EscalationRule(below_tau=0.5, on_split_top=True)


def _annotate(
    base_url: str, who: tuple[int, str], set_id: int, index: int, done: Callable, engine: Engine
) -> int:
    """One annotator: even ones rank candidates by id, odd ones in reverse, so two of a
    kind agree and two of different kinds disagree; some items are skipped."""
    saved = 0
    annotator_id, token = who
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        for step in range(PROMPTS + 1):
            item = next_item(client, set_id, done, engine=engine, annotator_id=annotator_id)
            if item is None:
                return saved
            if (index + step) % 7 == 3:
                skip = client.post(
                    f"/api/v1/assignments/{item['assignment_id']}/skip", json={"reason": "busy"}
                )
                assert skip.status_code == 200, skip.text
                continue
            ids = sorted(c["id"] for c in item["candidates"])
            order = ids if index % 2 == 0 else ids[::-1]
            body = {"assignment_id": item["assignment_id"], "ranking": [[c] for c in order]}
            response = client.post("/api/v1/annotations", json=body)
            assert response.status_code == 201, response.text
            saved += 1
    raise AssertionError("annotator never ran out of work")


def _seat_overflows(engine: Engine) -> list[tuple[int, int, int]]:
    """(prompt, seats taken, target) wherever submitted + live leases exceed the prompt's
    target, or the target exceeds k_max: one statement, one consistent snapshot."""
    seats = (
        select(func.count())
        .where(
            Assignment.prompt_id == Prompt.id,
            or_(
                Assignment.status == "submitted",
                and_(Assignment.status == "leased", Assignment.lease_expires_at > utcnow()),
            ),
        )
        .scalar_subquery()
    )
    target = K + Prompt.extra_seats
    query = select(Prompt.id, seats, target).where(or_(seats > target, target > K_MAX))
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def _all_targets_filled(engine: Engine) -> Callable[[], bool]:
    submitted = (
        select(func.count())
        .where(Assignment.prompt_id == Prompt.id, Assignment.status == "submitted")
        .scalar_subquery()
    )
    open_prompts = select(func.count()).where(submitted < K + Prompt.extra_seats)

    def done() -> bool:
        with engine.connect() as conn:
            return conn.scalar(open_prompts) == 0

    return done


def test_16_annotators_escalating_a_set_keep_every_lease_invariant(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    engine = make_engine(fresh_postgres_url)
    with Session(engine, expire_on_commit=False) as session:
        ps = make_prompt_set(
            session, prompts=PROMPTS, annotators_per_prompt=K, annotators_max=K_MAX
        )
        crowd = annotators(session, ANNOTATORS)
    server = start_server(ranklab_env(tmp_path / "data", fresh_postgres_url), tmp_path / "log")
    overflows: list[tuple[int, int, int]] = []
    finished = threading.Event()

    def watch() -> None:  # the invariant, checked again and again while the crowd works
        while not finished.is_set():
            overflows.extend(_seat_overflows(engine))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        done = _all_targets_filled(engine)
        saved = all_at_once(
            ANNOTATORS,
            lambda i: [_annotate(server.base_url, crowd[i], ps.id, i, done, engine)],
        )
    finally:
        finished.set()
        watcher.join()
        server.stop()
    assert overflows == [] and _seat_overflows(engine) == []
    with Session(engine) as session:
        rows = session.execute(
            select(Annotation.prompt_id, Annotation.annotator_id, Annotation.ranking).order_by(
                Annotation.id
            )
        ).all()
        assert len(rows) == sum(saved)
        pairs = [(p, a) for p, a, _ in rows]
        assert len(set(pairs)) == len(pairs)  # never the same prompt twice to one annotator
        targets = dict(session.execute(select(Prompt.id, K + Prompt.extra_seats)).all())
        assert Counter(p for p, _ in pairs) == targets  # every seat filled, none beyond
        escalated = 0
        for prompt_id, target in targets.items():
            rankings = [r for p, _, r in rows if p == prompt_id]
            # Each added seat was earned: the rankings before it were contested...
            for seats in range(K, target):
                assert measure(rankings[:seats]).contested(RULE), (prompt_id, seats)
            # ...and a prompt below k_max stopped because its rankings agreed.
            if target < K_MAX:
                assert not measure(rankings).contested(RULE), prompt_id
            escalated += target > K
        assert escalated > 0  # the crowd disagreed somewhere: escalation was exercised
        queued = {q.prompt_id for q in adjudication.queue(session, prompt_set_id=ps.id)}
        at_max = {
            p
            for p, t in targets.items()
            if t == K_MAX and measure([r for q, _, r in rows if q == p]).contested(RULE)
        }
        assert queued == at_max
        leased = select(func.count()).where(Assignment.status == "leased")
        assert session.scalar(leased) == 0
        assert_tallies_exact(session, ps.id)
        session.rollback()
    engine.dispose()
