"""Time per item is the server's measure (issue 20, item 2): lease hand-out to submit,
capped by the lease; what a client sends is kept beside it and decides nothing. Over the
API, the HTML form, and into exports and the annotator signals (both backends)."""

from __future__ import annotations

import datetime as dt
import json

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.analytics.loaders import iter_signal_rows
from app.annotation import assignment, submission
from app.annotation.models import Annotation, Assignment
from app.core.db import utcnow
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.annotation import submission_for
from tests.factories.prompt_sets import make_prompt_set
from tests.support.http import csrf_from, login
from tests.support.sessions import SharedSession


def _handed_out_earlier(session: Session, assignment_id: int, seconds: float) -> None:
    """As if the lease had been handed out `seconds` earlier (its expiry unchanged)."""
    row = session.get(Assignment, assignment_id)
    assert row is not None
    session.execute(
        update(Assignment)
        .where(Assignment.id == assignment_id)
        .values(leased_at=row.leased_at - dt.timedelta(seconds=seconds))
    )
    session.commit()
    session.expire_all()


def test_api_stores_and_exports_the_servers_time_not_the_clients(
    client: TestClient, session: Session
) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=1)
    user = make_user(session)
    headers = {"Authorization": f"Bearer {make_token(session, user)}"}
    task = client.get(f"/api/v1/tasks/next?prompt_set={ps.id}", headers=headers).json()
    _handed_out_earlier(session, task["assignment_id"], 1)
    started = utcnow()
    ranking = [[c["id"]] for c in task["candidates"]]
    body = {"assignment_id": task["assignment_id"], "ranking": ranking, "seconds_spent": 600}
    assert client.post("/api/v1/annotations", json=body, headers=headers).status_code == 201
    took = (utcnow() - started).total_seconds()
    stored = session.scalars(select(Annotation)).one()
    # Before: 600 stored, exported and read by the signals.
    assert 1 <= stored.seconds_spent <= 1 + took + 1
    assert stored.client_seconds_spent == 600
    signal = next(iter_signal_rows(session, [ps.id]))
    assert signal.seconds == stored.seconds_spent
    client.app.state.sessionmaker = lambda: SharedSession(session)
    researcher = make_user(session, role="researcher")
    export = client.get(
        f"/api/v1/exports/rankings?prompt_set={ps.id}",
        headers={"Authorization": f"Bearer {make_token(session, researcher)}"},
    )
    assert export.status_code == 200
    (row,) = [json.loads(line) for line in export.text.splitlines()]
    assert row["seconds_spent"] == stored.seconds_spent


def test_form_post_stores_the_servers_time_not_the_clients(
    client: TestClient, session: Session
) -> None:
    ps = make_prompt_set(session, prompts=1, candidates=2, confirm_untouched_order=False)
    user = make_user(session)
    login(client, user.username, DEFAULT_PASSWORD)
    page = client.get(f"/annotate/{ps.id}")
    row = session.scalars(select(Assignment).where(Assignment.annotator_id == user.id)).one()
    _handed_out_earlier(session, row.id, 2)
    task = assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=user)
    assert task is not None and task.assignment_id == row.id
    a, b = (c.id for c in task.candidates)
    form = {
        "csrf_token": csrf_from(page.text),
        "assignment_id": str(row.id),
        f"rank_{a}": "1",
        f"rank_{b}": "2",
        "seconds_spent": "600",
    }
    done = client.post(f"/annotate/{ps.id}/submit", data=form, follow_redirects=False)
    assert done.status_code == 303
    stored = session.scalars(select(Annotation)).one()
    assert 2 <= stored.seconds_spent < 60 and stored.client_seconds_spent == 600


def test_time_counts_from_the_hand_out_of_the_lease_submitted(session: Session) -> None:
    ps = make_prompt_set(session, prompts=2, annotators_per_prompt=1, lease_seconds=60)
    user = make_user(session)
    t0 = utcnow()
    first = assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=user, now=t0)
    # A reload shows the same lease again: its time still counts from the first showing.
    at = t0 + dt.timedelta(seconds=30)
    shown_again = assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=user, now=at)
    assert first is not None and shown_again is not None
    assert shown_again.assignment_id == first.assignment_id
    submission.submit_annotation(
        session,
        annotator=user,
        data=submission_for(first, seconds_spent=5),
        now=t0 + dt.timedelta(seconds=40),
    )
    # A lease that lapsed and is handed out again (the same row) is a new hand-out.
    t1 = t0 + dt.timedelta(seconds=50)
    second = assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=user, now=t1)
    t2 = t1 + dt.timedelta(seconds=100)  # the 60 s lease lapsed at t1 + 60
    reused = assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=user, now=t2)
    assert second is not None and reused is not None
    assert reused.assignment_id == second.assignment_id
    submission.submit_annotation(
        session,
        annotator=user,
        data=submission_for(reused),
        now=t2 + dt.timedelta(seconds=10),
    )
    stored = session.scalars(select(Annotation).order_by(Annotation.id)).all()
    assert [a.seconds_spent for a in stored] == [40.0, 10.0]  # before: 5 (the client's)
    assert [a.client_seconds_spent for a in stored] == [5.0, None]
