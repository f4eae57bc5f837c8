"""Annotation over HTTP (TestClient, both backends): next item, submit, skip, the pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.annotation.models import MAX_RATIONALE_CHARS, Annotation, Assignment, Comparison
from app.core.db import utcnow
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.annotation import lease, row_counts, submission_json
from tests.factories.prompt_sets import make_prompt, make_prompt_set
from tests.support.http import csrf_from, login


def _bearer(session: Session, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, user)}"}


def test_next_task_returns_the_item_without_model_names_then_204(
    client: TestClient, session: Session
) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=1)
    headers = _bearer(session, make_user(session))
    response = client.get(f"/api/v1/tasks/next?prompt_set={ps.id}", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert [c["label"] for c in body["candidates"]] == ["A", "B", "C", "D"]
    assert set(body["candidates"][0]) == {"id", "label", "text"}
    assert body["prompt"]["text"].startswith("Prompt ")
    assert "smollm2" not in response.text
    ranking = [[c["id"]] for c in body["candidates"]]
    saved = client.post(
        "/api/v1/annotations",
        json={"assignment_id": body["assignment_id"], "ranking": ranking},
        headers=headers,
    )
    assert saved.status_code == 201, saved.text
    assert saved.json()["comparisons"] == 6
    assert client.get(f"/api/v1/tasks/next?prompt_set={ps.id}", headers=headers).status_code == 204


def test_retry_with_the_same_idempotency_key_returns_the_first_result(
    client: TestClient, session: Session
) -> None:
    ps = make_prompt_set(session, prompts=2)
    user = make_user(session)
    headers = _bearer(session, user)
    task = lease(session, ps.id, user)
    body = submission_json(
        task,
        ranking=[[c.id for c in task.candidates[:2]]] + [[c.id] for c in task.candidates[2:]],
        all_bad=True,
        flags={str(task.candidates[0].id): ["unsafe"]},
    )
    first = client.post("/api/v1/annotations", json=body, headers=headers)
    counts = row_counts(session)
    again = client.post("/api/v1/annotations", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {**first.json(), "created": False}
    assert row_counts(session) == counts
    stored = session.scalars(select(Annotation)).one()
    assert stored.all_bad and stored.ranking[0] == sorted(body["ranking"][0])
    assert stored.flags == {str(task.candidates[0].id): ["unsafe"]}
    # 2 tied candidates, then 2 singles: 5 pairs with different ranks
    assert len(session.scalars(select(Comparison)).all()) == 5


def _cases() -> list[tuple[str, int, str]]:
    return [
        ("expired lease", 409, "expired"),
        ("someone else's assignment", 403, "belongs to another annotator"),
        ("already submitted", 409, "already submitted"),
        ("unknown assignment", 404, "does not exist"),
        ("missing candidate", 422, "response D has no rank"),
        ("repeated candidate", 422, "ranked more than once"),
        ("foreign candidate", 422, "is not a response to this prompt"),
        ("empty group", 422, "rank 2 is an empty group"),
        ("bad flag kind", 422, "unknown flag 'rude'"),
        ("flag on foreign candidate", 422, "is not a response to this prompt"),
        ("rating out of range", 422, "outside 1 to 7"),
        ("oversized rationale", 422, f"the limit is {MAX_RATIONALE_CHARS}"),
        ("ratings required", 422, "needs a rating from 1 to 7"),
        ("rationale required", 422, "asks for a rationale"),
        ("negative seconds", 422, "seconds_spent"),
        ("key reused for another item", 409, "already used for assignment"),
    ]


@pytest.mark.parametrize(("case", "status", "message"), _cases(), ids=[c[0] for c in _cases()])
def test_bad_submissions_are_refused_and_store_nothing(
    client: TestClient, session: Session, case: str, status: int, message: str
) -> None:
    required = {
        "ratings required": {"require_ratings": True},
        "rationale required": {"require_rationale": True},
    }.get(case, {})
    ps = make_prompt_set(session, prompts=3, annotators_per_prompt=1, **required)
    other_set = make_prompt_set(session, prompts=1)
    user, other = make_user(session), make_user(session)
    headers = _bearer(session, user)
    when = utcnow() - dt.timedelta(hours=1) if case == "expired lease" else None
    owner = other if case == "someone else's assignment" else user
    task = lease(session, ps.id, owner, **({"now": when} if when else {}))
    ids = [c.id for c in task.candidates]
    foreign = lease(session, other_set.id, user).candidates[0].id
    body: dict[str, Any] = submission_json(task)
    if required:
        body.pop("ratings" if "ratings" in case else "rationale")
    if case == "already submitted" or case == "key reused for another item":
        done = client.post("/api/v1/annotations", json=body, headers=headers)
        assert done.status_code == 201
        if case == "key reused for another item":
            nxt = lease(session, ps.id, user)
            body = submission_json(nxt, idempotency_key=body["idempotency_key"])
        else:
            body["idempotency_key"] = "another-key"
    edits: dict[str, dict[str, Any]] = {
        "unknown assignment": {"assignment_id": 999999},
        "missing candidate": {"ranking": [[i] for i in ids[:3]]},
        "repeated candidate": {"ranking": [[i] for i in ids] + [[ids[0]]]},
        "foreign candidate": {"ranking": [[i] for i in ids] + [[foreign]]},
        "empty group": {"ranking": [[ids[0]], [], [i for i in ids[1:]]]},
        "bad flag kind": {"flags": {str(ids[0]): ["rude"]}},
        "flag on foreign candidate": {"flags": {str(foreign): ["unsafe"]}},
        "rating out of range": {"ratings": {str(ids[0]): 9}},
        "oversized rationale": {"rationale": "x" * (MAX_RATIONALE_CHARS + 1)},
        "negative seconds": {"seconds_spent": -5},
    }
    body.update(edits.get(case, {}))
    counts = row_counts(session)
    response = client.post("/api/v1/annotations", json=body, headers=headers)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["ok"] is False and payload["status"] == status
    assert message in payload["error"], payload
    assert row_counts(session) == counts


def test_skip_over_the_api_needs_a_reason(client: TestClient, session: Session) -> None:
    ps = make_prompt_set(session, prompts=1)
    user = make_user(session)
    headers = _bearer(session, user)
    task = lease(session, ps.id, user)
    url = f"/api/v1/assignments/{task.assignment_id}/skip"
    refused = client.post(url, json={"reason": "  "}, headers=headers)
    assert refused.status_code == 422 and "Say why" in refused.json()["error"]
    ok = client.post(url, json={"reason": "unclear prompt"}, headers=headers)
    assert ok.json() == {"ok": True, "assignment_id": task.assignment_id, "status": "skipped"}
    assert client.get(f"/api/v1/tasks/next?prompt_set={ps.id}", headers=headers).status_code == 204


def test_cookie_api_calls_need_the_csrf_header(client: TestClient, session: Session) -> None:
    ps = make_prompt_set(session, prompts=1)
    user = make_user(session)
    login(client, user.username, DEFAULT_PASSWORD)
    task = lease(session, ps.id, user)
    response = client.post("/api/v1/annotations", json=submission_json(task))
    assert response.status_code == 403 and "CSRF" in response.json()["error"]
    token = csrf_from(client.get("/annotate").text)
    ok = client.post(
        "/api/v1/annotations", json=submission_json(task), headers={"X-CSRF-Token": token}
    )
    assert ok.status_code == 201


def test_pages_list_sets_with_progress_and_escape_untrusted_text(
    client: TestClient, session: Session
) -> None:
    ps = make_prompt_set(session, prompts=0, name="Tricky set", guidelines="**Be fair**")
    make_prompt(
        session,
        ps,
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say <script>alert(1)</script> hi"},
        ],
        candidates=2,
    )
    session.commit()
    user = make_user(session)
    login(client, user.username, DEFAULT_PASSWORD)
    home = client.get("/annotate")
    assert "Tricky set" in home.text and f'href="/annotate/{ps.id}"' in home.text
    page = client.get(f"/annotate/{ps.id}")
    assert page.status_code == 200
    assert "<strong>Be fair</strong>" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert 'class="turn turn-system"' in page.text and "Response B" in page.text
    assert "smollm2" not in page.text
    assert 'src="/static/js/annotation/rank.js"' in page.text
    assets = ["/static/css/app.css", "/static/css/annotation.css", "/static/js/annotation/rank.js"]
    weight = len(page.content) + sum(len(client.get(path).content) for path in assets)
    assert weight < 100_000  # issue 4: the page stays light


def test_plain_form_post_ranks_with_ties_and_shows_errors_with_input_kept(
    client: TestClient, session: Session
) -> None:
    ps = make_prompt_set(session, prompts=2, candidates=3)
    user = make_user(session)
    login(client, user.username, DEFAULT_PASSWORD)
    page = client.get(f"/annotate/{ps.id}")
    token = csrf_from(page.text)
    row = session.scalars(select(Assignment).where(Assignment.annotator_id == user.id)).one()
    task = lease(session, ps.id, user)
    a, b, c = (cand.id for cand in task.candidates)
    form = {"csrf_token": token, "assignment_id": str(row.id), "idempotency_key": "form-1"}
    bad = client.post(
        f"/annotate/{ps.id}/submit",
        data={**form, f"rank_{a}": "1", f"rank_{b}": "2", "rationale": "kept text"},
    )
    assert bad.status_code == 422
    assert "response C has no rank" in bad.text and "kept text" in bad.text
    good = client.post(
        f"/annotate/{ps.id}/submit",
        data={
            **form,
            f"rank_{a}": "2",
            f"rank_{b}": "1",
            f"rank_{c}": "1",
            f"flag_{a}": "refusal",
            "all_bad": "1",
        },
        follow_redirects=False,
    )
    assert good.status_code == 303 and good.headers["location"] == f"/annotate/{ps.id}"
    stored = session.scalars(select(Annotation)).one()
    assert stored.ranking == [sorted([b, c]), [a]]
    assert stored.all_bad and stored.flags == {str(a): ["refusal"]}
    assert stored.seconds_spent >= 0
    twice = client.post(
        f"/annotate/{ps.id}/submit",
        data={
            **form,
            "idempotency_key": "form-2",
            f"rank_{a}": "1",
            f"rank_{b}": "2",
            f"rank_{c}": "3",
        },
    )
    assert twice.status_code == 200  # redirected to the next item, with the reason shown
    assert "was already submitted" in twice.text and "Response A" in twice.text
    no_csrf = client.post(f"/annotate/{ps.id}/submit", data={"assignment_id": str(row.id)})
    assert no_csrf.status_code == 403
