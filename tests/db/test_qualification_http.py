"""Qualification over HTTP (TestClient, both backends): what the annotator reads, what the
admin sees and lifts, and the settings' 422s."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.annotation.models import AnnotatorStanding
from app.prompt_sets.models import PromptSet
from tests.db.test_qualification import make_gold_set, qualify
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.annotation import lease
from tests.support.http import csrf_from, login

REASON = "3 of 5 gold items agreed, 80% needed"


def _bearer(session: Session, role: str = "annotator") -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, make_user(session, role=role))}"}


def _failed(session: Session) -> tuple[PromptSet, Any]:
    ps = make_gold_set(session, gold=10, regular=3, qualification_items=5)
    user = make_user(session)
    qualify(session, ps, user, [True, False, True, False, True])
    return ps, user


def test_the_annotator_is_told_why_on_the_page_and_in_the_api(
    client: TestClient, session: Session
) -> None:
    ps, user = _failed(session)
    headers = {"Authorization": f"Bearer {make_token(session, user)}"}
    response = client.get(f"/api/v1/tasks/next?prompt_set={ps.id}", headers=headers)
    assert response.status_code == 403
    body = response.json()
    assert "did not pass the qualification round" in body["error"] and REASON in body["error"]
    assert login(client, user.username, DEFAULT_PASSWORD).status_code == 303
    page = client.get(f"/annotate/{ps.id}")
    assert page.status_code == 200
    assert "did not pass the qualification round" in page.text and REASON in page.text
    assert "data-rank-form" not in page.text


def test_submit_with_next_says_held_when_the_last_gold_answer_fails(
    client: TestClient, session: Session
) -> None:
    ps = make_gold_set(session, gold=10, regular=3, qualification_items=5)
    user = make_user(session)
    headers = {"Authorization": f"Bearer {make_token(session, user)}"}
    qualify(session, ps, user, [False, False, False, False])
    task = lease(session, ps.id, user)
    body = {"assignment_id": task.assignment_id, "ranking": [[c.id] for c in task.candidates]}
    saved = client.post("/api/v1/annotations?next=1", json=body, headers=headers)
    assert saved.status_code == 201, saved.text
    out = saved.json()
    assert "next" not in out and "did not pass the qualification round" in out["held"]


def test_the_admin_sees_and_lifts_from_the_people_and_annotator_pages(
    client: TestClient, session: Session
) -> None:
    ps, user = _failed(session)
    admin = make_user(session, role="admin")
    assert login(client, admin.username, DEFAULT_PASSWORD).status_code == 303
    people = client.get(f"/admin/users/{user.id}")
    assert REASON in people.text and "Let " in people.text
    page = client.get(f"/admin/prompt-sets/{ps.id}/annotators")
    assert REASON in page.text
    lifted = client.post(
        f"/admin/prompt-sets/{ps.id}/standings/{user.id}/lift",
        data={"csrf_token": csrf_from(page.text), "back": "user"},
        follow_redirects=False,
    )
    assert lifted.status_code == 303 and lifted.headers["location"] == f"/admin/users/{user.id}"
    session.expire_all()
    row = session.get(AnnotatorStanding, (ps.id, user.id))
    assert row is not None and row.state == "qualifying" and row.updated_by_id == admin.id
    assert f"allowed by {admin.username}" in client.get(f"/admin/users/{user.id}").text
    # Without the CSRF token nothing happens.
    refused = client.post(f"/admin/prompt-sets/{ps.id}/standings/{user.id}/lift", data={})
    assert refused.status_code == 403


def test_the_api_lists_and_lifts_and_refuses_what_is_not_held(
    client: TestClient, session: Session
) -> None:
    ps, user = _failed(session)
    admin = _bearer(session, "admin")
    listed = client.get(f"/api/v1/prompt-sets/{ps.id}/standings", headers=admin).json()
    assert listed["qualification_warning"] is None
    assert [(s["username"], s["state"], s["reason"]) for s in listed["standings"]] == [
        (user.username, "failed", REASON)
    ]
    url = f"/api/v1/prompt-sets/{ps.id}/standings/{user.id}/lift"
    assert client.post(url, headers=_bearer(session)).status_code == 403  # annotators can't
    lifted = client.post(url, headers=admin)
    assert lifted.status_code == 200 and lifted.json()["state"] == "qualifying"
    again = client.post(url, headers=admin)
    assert again.status_code == 409 and "only a failed or paused" in again.json()["error"]
    missing = client.post(f"/api/v1/prompt-sets/{ps.id}/standings/999999/lift", headers=admin)
    assert missing.status_code == 409


def test_too_few_gold_prompts_warns_on_the_dashboard_and_in_the_api(
    client: TestClient, session: Session
) -> None:
    ps = make_gold_set(session, gold=2, regular=3, qualification_items=4)
    admin = make_user(session, role="admin")
    listed = client.get(
        f"/api/v1/prompt-sets/{ps.id}/standings",
        headers={"Authorization": f"Bearer {make_token(session, admin)}"},
    ).json()
    assert "needs 4 gold items but this set has 2" in listed["qualification_warning"]
    assert login(client, admin.username, DEFAULT_PASSWORD).status_code == 303
    for path in (f"/admin/prompt-sets/{ps.id}", f"/admin/prompt-sets/{ps.id}/edit"):
        assert "needs 4 gold items but this set has 2" in client.get(path).text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("qualification_items", -1),
        ("qualification_items", 101),
        ("qualification_min_agreement", 1.5),
        ("qualification_min_agreement", -0.1),
        ("gold_pause_below", 80),
        ("gold_window", 0),
    ],
)
def test_out_of_range_settings_are_422_naming_the_field(
    client: TestClient, session: Session, field: str, value: float
) -> None:
    admin = _bearer(session, "admin")
    created = client.post(
        "/api/v1/prompt-sets", json={"name": f"q-{field}-{value}", field: value}, headers=admin
    )
    assert created.status_code == 422
    assert [e["field"] for e in created.json()["errors"]] == [field]
    ps = make_gold_set(session, gold=0, regular=1)
    patched = client.patch(f"/api/v1/prompt-sets/{ps.id}", json={field: value}, headers=admin)
    assert patched.status_code == 422
    assert [e["field"] for e in patched.json()["errors"]] == [field]
    session.expire_all()
    unchanged = session.get(PromptSet, ps.id)
    assert unchanged is not None and unchanged.qualification_items == 0
    assert unchanged.gold_pause_below is None and unchanged.gold_window == 10


def test_settings_round_trip_through_the_api_and_the_form(
    client: TestClient, session: Session
) -> None:
    admin_user = make_user(session, role="admin")
    admin = {"Authorization": f"Bearer {make_token(session, admin_user)}"}
    ps = make_gold_set(session, gold=0, regular=1)
    url = f"/api/v1/prompt-sets/{ps.id}"
    settings = {
        "qualification_items": 5,
        "qualification_min_agreement": 0.75,
        "gold_pause_below": 0.5,
        "gold_window": 20,
    }
    out = client.patch(url, json=settings, headers=admin).json()
    assert {k: out[k] for k in settings} == settings
    assert (
        client.patch(url, json={"gold_pause_below": None}, headers=admin).json()["gold_pause_below"]
        is None
    )
    # The form: an empty pause box is "off", an out-of-range share re-renders with a 422.
    assert login(client, admin_user.username, DEFAULT_PASSWORD).status_code == 303
    page = client.get(f"/admin/prompt-sets/{ps.id}/edit")
    form = {
        "csrf_token": csrf_from(page.text),
        "name": ps.name,
        "candidates_per_prompt": "4",
        "annotators_per_prompt": "3",
        "lease_seconds": "1800",
        "backend": "transformers",
        "model": "smollm2",
        "temperature": "0.8",
        "top_p": "0.95",
        "max_new_tokens": "64",
        "qualification_items": "3",
        "qualification_min_agreement": "0.9",
        "gold_pause_below": "2",
        "gold_window": "10",
    }
    bad = client.post(f"/admin/prompt-sets/{ps.id}/edit", data=form)
    assert bad.status_code == 422 and "less than or equal to 1" in bad.text
    good = client.post(f"/admin/prompt-sets/{ps.id}/edit", data={**form, "gold_pause_below": ""})
    assert good.status_code in (200, 303), good.text
    session.expire_all()
    saved = session.get(PromptSet, ps.id)
    assert saved is not None
    assert (saved.qualification_items, saved.qualification_min_agreement) == (3, 0.9)
    assert saved.gold_pause_below is None
