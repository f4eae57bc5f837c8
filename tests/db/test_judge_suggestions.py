"""A judge's suggested starting order (issue 13): off by default; when a current judge
version suggests, the page and the task JSON start from its order (labels unchanged), and
the submit records `suggestion_shown` from what the server served (both backends)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.annotation import assignment, submission
from app.annotation.models import Annotation, Assignment
from app.judges.models import JudgeRanking
from app.judges.suggestions import suggested_order
from app.prompt_sets.models import Prompt, PromptSet
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.annotation import submission_for
from tests.factories.export_data import candidate_ids
from tests.factories.judges import make_judge, make_judge_ranking
from tests.factories.prompt_sets import make_prompt_set
from tests.support.http import csrf_from, login


def _judged_set(session: Session, *, suggest: bool, **judge_fields) -> tuple[PromptSet, dict]:
    """One prompt, 3 candidates, judged best-last (the reverse of candidate order)."""
    ps = make_prompt_set(session, prompts=1, candidates=3, annotators_per_prompt=2)
    prompt = session.scalars(select(Prompt).where(Prompt.prompt_set_id == ps.id)).one()
    ids = candidate_ids(session, prompt)
    judge = make_judge(session, ps, suggest_to_annotators=suggest, **judge_fields)
    make_judge_ranking(session, judge, prompt, [[ids[2]], [ids[1]], [ids[0]]])
    session.commit()
    return ps, {"prompt": prompt, "ids": ids, "judge": judge}


def _bearer(session: Session, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, user)}"}


def test_no_suggestion_by_default(client: TestClient, session: Session) -> None:
    ps, _ = _judged_set(session, suggest=False)
    user = make_user(session)
    headers = _bearer(session, user)
    task = client.get(f"/api/v1/tasks/next?prompt_set={ps.id}", headers=headers).json()
    assert task["suggested_order"] is None
    ranking = [[c["id"]] for c in task["candidates"]]
    body = {"assignment_id": task["assignment_id"], "ranking": ranking}
    assert client.post("/api/v1/annotations", json=body, headers=headers).status_code == 201
    assert session.scalars(select(Annotation)).one().suggestion_shown is False


def test_api_task_starts_from_the_judge_order_and_submit_records_it(
    client: TestClient, session: Session
) -> None:
    ps, j = _judged_set(session, suggest=True)
    user = make_user(session)
    headers = _bearer(session, user)
    task = client.get(f"/api/v1/tasks/next?prompt_set={ps.id}", headers=headers).json()
    ids = j["ids"]
    assert task["suggested_order"] == [ids[2], ids[1], ids[0]]
    # Labels are the per-annotator shuffle's, as without a suggestion.
    labels = assignment.candidate_labels(user.id, j["prompt"].id, ids)
    assert {c["id"]: c["label"] for c in task["candidates"]} == labels
    stored = session.get(Assignment, task["assignment_id"])
    session.refresh(stored)
    assert stored.suggested_order == task["suggested_order"]
    # The server decides: a client cannot say the suggestion was not shown.
    body = {
        "assignment_id": task["assignment_id"],
        "ranking": [[ids[0]], [ids[1]], [ids[2]]],
        "suggestion_shown": False,
    }
    saved = client.post("/api/v1/annotations", json=body, headers=headers)
    assert saved.status_code in (201, 422)
    if saved.status_code == 422:  # the body model refuses unknown fields: send it without
        body.pop("suggestion_shown")
        assert client.post("/api/v1/annotations", json=body, headers=headers).status_code == 201
    assert session.scalars(select(Annotation)).one().suggestion_shown is True


def test_page_starts_ranking_rows_in_the_judge_order_and_the_form_records_it(
    client: TestClient, session: Session
) -> None:
    ps, j = _judged_set(session, suggest=True)
    user = make_user(session)
    login(client, user.username, DEFAULT_PASSWORD)
    page = client.get(f"/annotate/{ps.id}")
    assert page.status_code == 200 and "data-suggested" in page.text
    ids = j["ids"]
    rows = [int(cid) for cid in re.findall(r'<li class="rank-row"[^>]*data-cid="(\d+)"', page.text)]
    assert rows == [ids[2], ids[1], ids[0]]
    cards = [
        int(cid) for cid in re.findall(r'<article class="cand"[^>]*data-cid="(\d+)"', page.text)
    ]
    labels = assignment.candidate_labels(user.id, j["prompt"].id, ids)
    assert cards == sorted(ids, key=labels.__getitem__)  # the answers stay in label order
    assert f'name="shown_order" value="{ids[2]},{ids[1]},{ids[0]}"' in page.text
    row = session.scalars(select(Assignment).where(Assignment.annotator_id == user.id)).one()
    # A reload shows the same order even if the judge's ranking changed meanwhile.
    session.refresh(row)
    assert row.suggested_order == [ids[2], ids[1], ids[0]]
    form = {
        "csrf_token": csrf_from(page.text),
        "assignment_id": str(row.id),
        "shown_order": f"{ids[2]},{ids[1]},{ids[0]}",
        "keep_order": "1",
        f"rank_{ids[2]}": "1",
        f"rank_{ids[1]}": "2",
        f"rank_{ids[0]}": "3",
    }
    done = client.post(f"/annotate/{ps.id}/submit", data=form, follow_redirects=False)
    assert done.status_code == 303
    stored = session.scalars(select(Annotation)).one()
    assert stored.suggestion_shown is True and stored.order_changed is False


def test_reload_keeps_the_served_order(session: Session) -> None:
    ps, j = _judged_set(session, suggest=True)
    user = make_user(session)
    first = assignment.lease_next_task(
        session, prompt_set_id=ps.id, annotator=user, suggest=suggested_order
    )
    judge_ranking = session.scalars(select(JudgeRanking)).one()
    judge_ranking.ranking = [[cid] for cid in j["ids"]]
    session.commit()
    again = assignment.lease_next_task(
        session, prompt_set_id=ps.id, annotator=user, suggest=suggested_order
    )
    assert first is not None and again is not None
    assert again.assignment_id == first.assignment_id
    assert again.suggested_order == first.suggested_order == j["ids"][::-1]


def test_no_suggestion_from_replaced_versions_failures_or_without_a_source(
    session: Session,
) -> None:
    ps, j = _judged_set(session, suggest=True, is_current=False)
    user = make_user(session)
    task = assignment.lease_next_task(
        session, prompt_set_id=ps.id, annotator=user, suggest=suggested_order
    )
    assert task is not None and task.suggested_order is None
    ps2, j2 = _judged_set(session, suggest=True)
    # No source passed (the CLI, benchmarks): no suggestion, nothing stored.
    plain = assignment.lease_next_task(session, prompt_set_id=ps2.id, annotator=user)
    assert plain is not None and plain.suggested_order is None
    assert session.get(Assignment, plain.assignment_id).suggested_order is None
    failed_set = make_prompt_set(session, prompts=1, candidates=2)
    prompt = session.scalars(select(Prompt).where(Prompt.prompt_set_id == failed_set.id)).one()
    make_judge_ranking(
        session, make_judge(session, failed_set, suggest_to_annotators=True), prompt, None
    )
    assert suggested_order(session, failed_set.id, prompt.id) is None


def test_a_suggestion_that_misses_a_candidate_is_not_shown(session: Session) -> None:
    ps, j = _judged_set(session, suggest=True)
    session.scalars(select(JudgeRanking)).one().ranking = [[j["ids"][0]], [j["ids"][1]]]
    session.commit()
    user = make_user(session)
    task = assignment.lease_next_task(
        session, prompt_set_id=ps.id, annotator=user, suggest=suggested_order
    )
    assert task is not None and task.suggested_order is None
    result = submission.submit_annotation(session, annotator=user, data=submission_for(task))
    assert session.get(Annotation, result.annotation_id).suggestion_shown is False
