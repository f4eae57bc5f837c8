"""An archived prompt set is read-only: every change answers 409 and writes nothing, over
the API and the admin forms; setting it active (or paused) again restores editing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.generation.models import GenerationJob
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.prompt_sets import make_prompt_set
from tests.support.http import csrf_from, login

pytestmark = pytest.mark.one_backend  # 409s that write nothing

READ_ONLY = "is archived and read-only"


@pytest.fixture
def admin(client: TestClient, session: Session) -> dict[str, str]:
    """Logs the client in as an admin (for the forms); returns bearer headers (for the API)."""
    user = make_user(session, role="admin")
    assert login(client, user.username, DEFAULT_PASSWORD).status_code == 303
    return {"Authorization": f"Bearer {make_token(session, user)}"}


@pytest.fixture
def archived(session: Session) -> PromptSet:
    return make_prompt_set(session, prompts=2, candidates=2, name="Old set", status="archived")


def _snapshot(session: Session, ps: PromptSet) -> tuple:
    """Everything the refused requests could have touched."""
    session.expire_all()
    prompts = session.scalars(select(Prompt).where(Prompt.prompt_set_id == ps.id)).all()
    return (
        session.get(PromptSet, ps.id).name,
        sorted((p.id, p.status, p.is_gold) for p in prompts),
        session.scalar(select(func.count()).select_from(Candidate)),
        session.scalar(select(func.count()).select_from(GenerationJob)),
    )


def _first_prompt(session: Session, ps: PromptSet) -> tuple[int, int]:
    prompt = session.scalars(select(Prompt).where(Prompt.prompt_set_id == ps.id)).first()
    candidate = session.scalars(
        select(Candidate.id).where(Candidate.prompt_id == prompt.id)
    ).first()
    return prompt.id, candidate


API_CALLS: dict[str, Callable] = {
    "edit": lambda c, ps, p, cand, h: c.patch(
        f"/api/v1/prompt-sets/{ps}", json={"name": "Renamed"}, headers=h
    ),
    "import": lambda c, ps, p, cand, h: c.post(
        f"/api/v1/prompt-sets/{ps}/imports",
        files={"file": ("p.jsonl", b'{"prompt": "new one"}\n')},
        headers=h,
    ),
    "set gold": lambda c, ps, p, cand, h: c.put(
        f"/api/v1/prompts/{p}/gold", json={"best_candidate_id": cand}, headers=h
    ),
    "clear gold": lambda c, ps, p, cand, h: c.delete(f"/api/v1/prompts/{p}/gold", headers=h),
    "delete prompt": lambda c, ps, p, cand, h: c.delete(f"/api/v1/prompts/{p}", headers=h),
    "generation job": lambda c, ps, p, cand, h: c.post(
        f"/api/v1/prompt-sets/{ps}/generation-jobs", json={}, headers=h
    ),
}


@pytest.mark.parametrize("action", list(API_CALLS))
def test_api_refuses_changes_to_an_archived_set(
    client: TestClient, session: Session, admin: dict, archived: PromptSet, action: str
) -> None:
    prompt_id, candidate_id = _first_prompt(session, archived)
    before = _snapshot(session, archived)

    response = API_CALLS[action](client, archived.id, prompt_id, candidate_id, admin)

    assert response.status_code == 409, response.text
    body = response.json()
    assert body["ok"] is False and "'Old set' is archived and read-only" in body["error"]
    assert _snapshot(session, archived) == before


FORM_POSTS: dict[str, Callable] = {
    "edit": lambda ps, p, cand: (
        f"/admin/prompt-sets/{ps}/edit",
        {"name": "Renamed", "candidates_per_prompt": "2", "annotators_per_prompt": "3"},
        None,
    ),
    "import": lambda ps, p, cand: (
        f"/admin/prompt-sets/{ps}/imports",
        {},
        {"file": ("p.jsonl", b'{"prompt": "new one"}\n')},
    ),
    "set gold": lambda ps, p, cand: (f"/admin/prompts/{p}/gold", {"best_candidate_id": cand}, None),
    "clear gold": lambda ps, p, cand: (f"/admin/prompts/{p}/gold", {"action": "clear"}, None),
    "delete prompt": lambda ps, p, cand: (f"/admin/prompts/{p}/delete", {}, None),
    "generation job": lambda ps, p, cand: (f"/admin/prompt-sets/{ps}/generation/start", {}, None),
}


@pytest.mark.parametrize("action", list(FORM_POSTS))
def test_admin_forms_refuse_changes_to_an_archived_set(
    client: TestClient, session: Session, admin: dict, archived: PromptSet, action: str
) -> None:
    prompt_id, candidate_id = _first_prompt(session, archived)
    token = csrf_from(client.get(f"/admin/prompt-sets/{archived.id}").text)
    url, data, files = FORM_POSTS[action](archived.id, prompt_id, candidate_id)
    before = _snapshot(session, archived)

    response = client.post(
        url, data={"csrf_token": token, **data}, files=files, follow_redirects=False
    )

    assert response.status_code == 409, response.text
    assert READ_ONLY in response.text
    assert _snapshot(session, archived) == before


def test_unarchiving_restores_editing(
    client: TestClient, session: Session, admin: dict, archived: PromptSet
) -> None:
    url = f"/api/v1/prompt-sets/{archived.id}"
    assert client.patch(url, json={"status": "archived"}, headers=admin).status_code == 200

    unarchived = client.patch(url, json={"status": "paused", "name": "Back"}, headers=admin)
    assert unarchived.status_code == 200, unarchived.text
    assert (unarchived.json()["status"], unarchived.json()["name"]) == ("paused", "Back")
    renamed = client.patch(url, json={"name": "Back again"}, headers=admin)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Back again"


def test_status_form_unarchives_then_the_edit_form_saves(
    client: TestClient, session: Session, admin: dict, archived: PromptSet
) -> None:
    token = csrf_from(client.get(f"/admin/prompt-sets/{archived.id}").text)
    client.post(
        f"/admin/prompt-sets/{archived.id}/status", data={"csrf_token": token, "status": "active"}
    )
    form = {
        "csrf_token": token,
        "name": "Saved",
        "candidates_per_prompt": "2",
        "annotators_per_prompt": "3",
        "lease_seconds": "1800",
    }
    response = client.post(
        f"/admin/prompt-sets/{archived.id}/edit", data=form, follow_redirects=False
    )
    assert response.status_code == 303
    session.expire_all()
    assert session.get(PromptSet, archived.id).name == "Saved"


def test_cancel_form_only_cancels_a_job_of_the_set_in_its_path(
    client: TestClient, session: Session, admin: dict
) -> None:
    mine = make_prompt_set(session, prompts=1, candidates=None)
    other = make_prompt_set(session, prompts=1, candidates=None)
    job = GenerationJob(prompt_set_id=other.id, status="queued", total=1, settings={})
    session.add(job)
    session.commit()
    token = csrf_from(client.get(f"/admin/prompt-sets/{mine.id}/generation").text)

    wrong = client.post(
        f"/admin/prompt-sets/{mine.id}/generation/jobs/{job.id}/cancel",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert wrong.status_code == 404
    assert f"not a job of prompt set {mine.id}" in wrong.text
    session.refresh(job)
    assert job.status == "queued" and not job.cancel_requested

    right = client.post(
        f"/admin/prompt-sets/{other.id}/generation/jobs/{job.id}/cancel",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert right.status_code == 303
    session.refresh(job)
    assert job.status == "cancelled"
