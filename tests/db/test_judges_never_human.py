"""Judge rankings are never people's work (issue 13): adding judge rankings to a set leaves
its k and claims, agreement, annotator statistics, the people page and the default
exports exactly as they were (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.admin.user_pages import users_context
from app.analytics import loaders
from app.analytics.reports import annotator_stats, dashboard_numbers, prompt_set_stats
from app.annotation import assignment
from app.exports import service
from app.prompt_sets.models import Prompt
from tests.factories.accounts import DEFAULT_PASSWORD, make_user
from tests.factories.annotation import make_annotation
from tests.factories.export_data import candidate_ids
from tests.factories.judges import make_judge, make_judge_ranking
from tests.factories.prompt_sets import make_prompt_set
from tests.support.http import login

KEY = "k" * 48


def _snapshot(session: Session, ps_id: int, k: int) -> dict[str, Any]:
    numbers = dashboard_numbers(session, ps_id, k)
    stats = prompt_set_stats(session, prompt_set_id=ps_id)
    stats.pop("intervals_as_of", None)
    exports = {}
    for fmt in ("pairs", "rankings", "unpaired", "consensus"):
        plan = service.parse_options(
            session, {"format": fmt, "prompt_set": [ps_id]}, secret_key=KEY, default_model="smollm2"
        )
        exports[fmt] = list(service.iter_rows(session, plan))
    return {
        "progress": numbers["progress"],
        "agreement": numbers["agreement"],
        "models": numbers["models"].get("table"),
        "stats": stats,
        "annotators": annotator_stats(session, ps_id),
        "everyone": annotator_stats(session),
        "people": users_context(session)["stats"],
        "count": loaders.count_annotators(session, [ps_id]),
        "exports": exports,
    }


def _people_table(html: str) -> str:
    # The page without its per-request tokens.
    return re.sub(r'(csrf[-_]token"? (?:content|value)=)"[^"]*"', r"\1", html)


def test_judge_rankings_change_no_human_figure(client: TestClient, session: Session) -> None:
    ps = make_prompt_set(session, prompts=2, candidates=3, annotators_per_prompt=2)
    p1, p2 = session.scalars(select(Prompt).where(Prompt.prompt_set_id == ps.id)).all()
    people = [make_user(session, username=f"h-{ps.id}-{i}") for i in range(3)]
    c1, c2 = candidate_ids(session, p1), candidate_ids(session, p2)
    make_annotation(session, p1, people[0], [[c1[0]], [c1[1]], [c1[2]]])
    make_annotation(session, p1, people[1], [[c1[1]], [c1[0]], [c1[2]]])
    session.commit()
    admin = make_user(session, role="admin")
    login(client, admin.username, DEFAULT_PASSWORD)
    client.get("/admin/users")  # shows (and clears) the welcome flash
    before = _snapshot(session, ps.id, 2)
    page_before = _people_table(client.get("/admin/users").text)

    # Five judge versions rank both prompts (one fails on p2): far beyond k = 2.
    for n in range(5):
        judge = make_judge(session, ps, name=f"j{n}", mode="pairwise", suggest_to_annotators=n == 0)
        make_judge_ranking(session, judge, p1, [[c1[2]], [c1[0]], [c1[1]]], pairs_judged=3)
        make_judge_ranking(session, judge, p2, [[c2[0]], [c2[1]], [c2[2]]] if n else None)
    session.commit()

    assert _snapshot(session, ps.id, 2) == before
    assert _people_table(client.get("/admin/users").text) == page_before
    # k: p1 is full with its two people; p2 still has both seats for people.
    third = assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=people[2])
    assert third is not None and third.prompt_id == p2.id
    fourth = make_user(session, username=f"h-{ps.id}-x")
    other = assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=fourth)
    assert other is not None and other.prompt_id == p2.id
    progress = dashboard_numbers(session, ps.id, 2)["progress"]
    assert (progress.annotations, progress.items_complete) == (2, 1)
