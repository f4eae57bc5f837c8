"""JSON routes for generation jobs: start, watch, cancel; and editing a prompt set, since
saving new generation settings with "regenerate" also queues a job."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from app.accounts.deps import AdminUser, ResearcherUser
from app.core.db import SessionDep
from app.generation import jobs, service
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.schemas import PromptSetOut, PromptSetPatch

router = APIRouter(prefix="/api/v1", tags=["generation"])


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_ids: list[int] | None = Field(default=None, max_length=100_000)
    """Only these prompts (default: every active prompt of the set)."""
    regenerate: bool = False
    """Replace existing candidates of prompts nobody has annotated yet."""


def job_payload(session: SessionDep, job_id: int) -> dict[str, Any]:
    job = jobs.load_job(session, job_id)
    return jobs.job_progress(job, jobs.recent_task_errors(session, job.id))


@router.post("/prompt-sets/{prompt_set_id}/generation-jobs", status_code=201)
def create_generation_job(
    prompt_set_id: int,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    body: JobCreate | None = None,
) -> JSONResponse:
    body = body or JobCreate()
    job = service.start_generation(
        session,
        prompt_set_id=prompt_set_id,
        created_by_id=user.id,
        prompt_ids=body.prompt_ids,
        regenerate=body.regenerate,
        app_settings=request.app.state.settings,
    )
    return JSONResponse(jobs.job_progress(job), status_code=201)


@router.get("/generation-jobs/{job_id}")
def get_generation_job(job_id: int, session: SessionDep, user: ResearcherUser) -> dict[str, Any]:
    return job_payload(session, job_id)


@router.post("/generation-jobs/{job_id}/cancel")
def cancel_generation_job(job_id: int, session: SessionDep, user: AdminUser) -> dict[str, Any]:
    service.cancel_generation(session, job_id=job_id)
    return job_payload(session, job_id)


@router.patch("/prompt-sets/{prompt_set_id}", response_model=PromptSetOut, tags=["prompt sets"])
def patch_prompt_set(
    prompt_set_id: int,
    body: PromptSetPatch,
    request: Request,
    session: SessionDep,
    user: AdminUser,
) -> PromptSetOut:
    result = service.edit_prompt_set(
        session,
        prompt_set_id=prompt_set_id,
        changes=body,
        user_id=user.id,
        app_settings=request.app.state.settings,
    )
    return prompt_set_service.prompt_set_out(session, result.prompt_set, result.regeneration_job_id)
