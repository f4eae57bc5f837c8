"""uncertain_first over real HTTP on PostgreSQL: the least certain prompt goes out first,
and 16 annotators at once still fill every prompt exactly k times, never twice each."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.annotation.models import Annotation, Assignment
from app.core.db import make_engine
from app.prompt_sets.models import Candidate, Prompt
from app.reward import service
from app.reward.schemas import RoutingIn
from tests.db.test_annotation_concurrency import _annotate_until_done
from tests.factories.accounts import make_token, make_user
from tests.factories.prompt_sets import make_prompt_set
from tests.factories.reward import make_scored_version
from tests.support.crowd import all_at_once, annotations_reach, annotators
from tests.support.server import ranklab_env, start_server

ANNOTATORS, PROMPTS, K = 16, 30, 3


def test_uncertain_first_leases_least_certain_first_and_keeps_every_lease_rule(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    engine = make_engine(fresh_postgres_url)
    rng = random.Random(7)
    with Session(engine, expire_on_commit=False) as session:
        ps = make_prompt_set(session, prompts=PROMPTS, annotators_per_prompt=K)
        rows = session.execute(
            select(Candidate.prompt_id, Candidate.id)
            .join(Prompt, Prompt.id == Candidate.prompt_id)
            .where(Prompt.prompt_set_id == ps.id)
        ).all()
        gaps = {pid: rng.uniform(0.01, 6.0) for pid, _ in rows}
        scores, seen = {}, Counter()
        for pid, cid in rows:
            scores[cid] = (-gaps[pid] * seen[pid], 0.0)
            seen[pid] += 1
        make_scored_version(session, ps, scores)
        service.set_routing(session, prompt_set_id=ps.id, data=RoutingIn(routing="uncertain_first"))
        first_user = make_user(session)
        crowd = annotators(session, ANNOTATORS)
        first_token = make_token(session, first_user)
    least_certain = min(gaps, key=gaps.get)
    server = start_server(ranklab_env(tmp_path / "data", fresh_postgres_url), tmp_path / "log")
    try:
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {first_token}"}
        ) as client:
            first = client.get(f"/api/v1/tasks/next?prompt_set={ps.id}")
            assert first.status_code == 200 and first.json()["prompt"]["text"] is not None
            leased = first.json()["assignment_id"]
        # The first user's live lease keeps one seat: the crowd is done one short of k each.
        done = annotations_reach(engine, PROMPTS * K - 1)
        results = all_at_once(
            ANNOTATORS,
            lambda i: _annotate_until_done(server.base_url, crowd[i], ps.id, i, done, engine),
        )
    finally:
        server.stop()
    with Session(engine) as session:
        assert session.get(Assignment, leased).prompt_id == least_certain
        annotations = session.execute(select(Annotation.prompt_id, Annotation.annotator_id)).all()
        per_prompt = Counter(p for p, _ in annotations)
        # The first user holds one live lease on the least certain prompt: it got k - 1 more.
        assert per_prompt[least_certain] == K - 1
        assert all(n == K for p, n in per_prompt.items() if p != least_certain)
        assert len(per_prompt) == PROMPTS and len(set(annotations)) == len(annotations)
        assert len(results) == PROMPTS * K - 1
    engine.dispose()
