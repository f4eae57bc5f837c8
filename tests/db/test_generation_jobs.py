"""Generation jobs over the service and the JSON API (both databases, no model needed)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.annotation.models import Annotation, Assignment
from app.core.db import utcnow
from app.generation import service as generation_service
from app.generation.errors import InvalidGenerationSettings
from app.generation.models import GenerationJob, GenerationTask
from app.generation.pages import generation_context
from app.prompt_sets.models import Candidate, Prompt
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.generation import make_generation_set
from tests.factories.prompt_sets import make_prompt, make_prompt_set
from tests.support.http import login


def _task_prompts(session: Session, job: GenerationJob) -> list[int]:
    return sorted(
        session.scalars(select(GenerationTask.prompt_id).where(GenerationTask.job_id == job.id))
    )


def _candidates(session: Session, prompt_id: int) -> int:
    return session.scalar(select(func.count()).where(Candidate.prompt_id == prompt_id)) or 0


def test_create_job_queues_only_prompts_missing_candidates(session: Session, settings) -> None:
    ps = make_prompt_set(session, prompts=2, candidates=2)
    fresh = [make_prompt(session, ps, text=f"New {i}", candidates=None) for i in range(2)]
    partial = make_prompt(session, ps, text="Half done", candidates=1)
    session.commit()

    job = generation_service.start_generation(
        session, prompt_set_id=ps.id, created_by_id=None, app_settings=settings
    )

    assert job.status == "queued" and job.total == 3
    assert _task_prompts(session, job) == sorted([p.id for p in fresh] + [partial.id])
    assert job.settings["model"] == "smollm2" and job.settings["candidates_per_prompt"] == 2


def test_a_second_job_skips_prompts_an_active_job_covers(session: Session, settings) -> None:
    ps = make_generation_set(session, prompts=3)
    first = generation_service.start_generation(
        session, prompt_set_id=ps.id, created_by_id=None, app_settings=settings
    )
    second = generation_service.start_generation(
        session, prompt_set_id=ps.id, created_by_id=None, app_settings=settings
    )
    assert first.total == 3
    assert (second.total, second.status) == (0, "done")


def test_regenerate_replaces_unannotated_candidates_and_keeps_ranked_ones(
    session: Session, settings
) -> None:
    ps = make_prompt_set(session, prompts=3, candidates=2)
    old_job = generation_service.start_generation(
        session, prompt_set_id=ps.id, created_by_id=None, app_settings=settings
    )
    prompts = list(
        session.scalars(select(Prompt).where(Prompt.prompt_set_id == ps.id).order_by(Prompt.id))
    )
    annotator = make_user(session)
    assignment = Assignment(
        prompt_id=prompts[0].id,
        annotator_id=annotator.id,
        status="submitted",
        lease_expires_at=utcnow() + dt.timedelta(minutes=30),
    )
    session.add(assignment)
    session.flush()
    session.add(
        Annotation(
            assignment_id=assignment.id,
            prompt_id=prompts[0].id,
            annotator_id=annotator.id,
            ranking=[[1], [2]],
            idempotency_key="k1",
        )
    )
    session.commit()

    job = generation_service.start_generation(
        session, prompt_set_id=ps.id, created_by_id=None, regenerate=True, app_settings=settings
    )

    assert _task_prompts(session, job) == [prompts[1].id, prompts[2].id]
    assert _candidates(session, prompts[0].id) == 2  # ranked: kept as it was
    assert [_candidates(session, p.id) for p in prompts[1:]] == [0, 0]
    session.refresh(prompts[1])
    assert prompts[1].candidates_ready is False
    session.refresh(old_job)
    assert old_job.status == "done"  # it had nothing to do; finished jobs stay as they were


def test_regenerate_cancels_the_sets_active_jobs(session: Session, settings) -> None:
    ps = make_generation_set(session, prompts=2)
    old = generation_service.start_generation(
        session, prompt_set_id=ps.id, created_by_id=None, app_settings=settings
    )
    new = generation_service.start_generation(
        session, prompt_set_id=ps.id, created_by_id=None, regenerate=True, app_settings=settings
    )
    session.refresh(old)
    assert old.status == "cancelled" and new.total == 2


def test_unknown_prompt_ids_are_refused_and_nothing_is_queued(session: Session, settings) -> None:
    ps = make_generation_set(session, prompts=1)
    before = session.scalar(select(func.count()).select_from(GenerationJob))
    with pytest.raises(InvalidGenerationSettings, match=r"\[999999\] are not active prompts"):
        generation_service.start_generation(
            session,
            prompt_set_id=ps.id,
            created_by_id=None,
            prompt_ids=[999999],
            app_settings=settings,
        )
    assert session.scalar(select(func.count()).select_from(GenerationJob)) == before


def _bearer(session: Session, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, make_user(session, role=role))}"}


def test_api_creates_watches_and_cancels_a_job(client: TestClient, session: Session) -> None:
    ps = make_generation_set(session, prompts=2)
    admin = _bearer(session, "admin")

    created = client.post(f"/api/v1/prompt-sets/{ps.id}/generation-jobs", headers=admin)
    assert created.status_code == 201, created.text
    job = created.json()
    assert (job["status"], job["total"], job["done"], job["backend"]) == (
        "queued",
        2,
        0,
        "transformers",
    )

    watched = client.get(
        f"/api/v1/generation-jobs/{job['id']}", headers=_bearer(session, "researcher")
    )
    assert watched.status_code == 200 and watched.json()["percent"] == 0.0

    cancelled = client.post(f"/api/v1/generation-jobs/{job['id']}/cancel", headers=admin)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/generation-jobs/{job['id']}/cancel", headers=admin)
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]


@pytest.mark.parametrize(
    ("generation", "message"),
    [
        ({"backend": "llamas"}, "generation.backend: unknown backend 'llamas'"),
        (
            {"model": "/missing/model.gguf"},
            "generation.model: Model file '/missing/model.gguf' does not exist.",
        ),
        (
            {"max_new_tokens": 10_000},
            "generation.max_new_tokens: Input should be less than or equal to 4096",
        ),
        (
            {"backend": "openai", "model": "m"},
            "generation.base_url: the openai backend needs an http(s) base URL",
        ),
    ],
)
def test_api_refuses_bad_generation_settings_with_422(
    client: TestClient, session: Session, generation: dict, message: str
) -> None:
    ps = make_generation_set(session, prompts=1, generation=generation)
    before = session.scalar(select(func.count()).select_from(GenerationJob))
    response = client.post(
        f"/api/v1/prompt-sets/{ps.id}/generation-jobs", headers=_bearer(session, "admin")
    )
    assert response.status_code == 422
    body = response.json()
    assert body["ok"] is False and body["error"].startswith(message)
    assert session.scalar(select(func.count()).select_from(GenerationJob)) == before


def test_api_roles_and_missing_things(client: TestClient, session: Session) -> None:
    ps = make_generation_set(session, prompts=1)
    annotator = _bearer(session, "annotator")
    assert (
        client.post(f"/api/v1/prompt-sets/{ps.id}/generation-jobs", headers=annotator).status_code
        == 403
    )
    assert client.get("/api/v1/generation-jobs/1", headers=annotator).status_code == 403
    admin = _bearer(session, "admin")
    assert client.get("/api/v1/generation-jobs/999999", headers=admin).status_code == 404
    assert (
        client.post("/api/v1/prompt-sets/999999/generation-jobs", headers=admin).status_code == 404
    )


def test_prompts_api_pages_with_candidates_and_metadata(
    client: TestClient, session: Session
) -> None:
    ps = make_prompt_set(session, prompts=5, candidates=2)
    headers = _bearer(session, "researcher")
    url = f"/api/v1/prompt-sets/{ps.id}/prompts"

    first = client.get(url, params={"include": "candidates", "limit": 3}, headers=headers).json()
    rest = client.get(
        url, params={"include": "candidates", "after": first["next_after"]}, headers=headers
    ).json()

    assert first["total"] == 5 and len(first["items"]) == 3 and len(rest["items"]) == 2
    assert rest["next_after"] is None
    ids = [p["id"] for p in first["items"] + rest["items"]]
    assert ids == sorted(set(ids))
    candidate = first["items"][0]["candidates"][1]
    assert candidate["position"] == 1 and candidate["model"] == "smollm2"
    assert candidate["sampling"]["temperature"] == 0.8 and candidate["seed"] == 1001
    plain = client.get(url, headers=headers).json()
    assert "candidates" not in plain["items"][0]
    assert client.get(url, headers=_bearer(session, "annotator")).status_code == 403
    assert client.get(url, params={"limit": 0}, headers=headers).status_code == 422


def test_generation_page_shows_progress_and_starts_a_job(
    client: TestClient, session: Session
) -> None:
    ps = make_generation_set(session, prompts=2)
    admin = make_user(session, role="admin")
    login(client, admin.username, DEFAULT_PASSWORD)
    page = client.get(f"/admin/prompt-sets/{ps.id}/generation")
    assert page.status_code == 200 and "No generation job has run" in page.text

    from tests.support.http import csrf_from

    started = client.post(
        f"/admin/prompt-sets/{ps.id}/generation/start",
        data={"csrf_token": csrf_from(page.text)},
        follow_redirects=True,
    )
    assert started.status_code == 200
    assert "queued for 2 prompts" in started.text and "data-generation-job=" in started.text
    context = generation_context(session, ps.id)
    assert context["progress"]["total"] == 2 and context["prompts_ready"] == 0
