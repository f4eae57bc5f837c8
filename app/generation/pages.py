"""Admin page of a prompt set's generation: start, cancel, watch the live progress bar."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.deps import AdminUser
from app.core.csrf import verify_csrf_form
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.inputs import Id
from app.core.templating import flash, render
from app.generation import jobs
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Prompt

router = APIRouter(tags=["pages"])


def generation_context(session: Session, prompt_set_id: Id) -> dict[str, Any]:
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    job = jobs.latest_job(session, prompt_set_id)
    total, ready = session.execute(
        select(func.count(), func.count().filter(Prompt.candidates_ready)).where(
            Prompt.prompt_set_id == prompt_set_id, Prompt.status == "active"
        )
    ).one()
    return {
        "prompt_set": {
            "id": prompt_set.id,
            "name": prompt_set.name,
            "candidates_per_prompt": prompt_set.candidates_per_prompt,
            "generation": prompt_set.generation,
        },
        "prompts_total": total,
        "prompts_ready": ready,
        "progress": jobs.job_progress(job, jobs.recent_task_errors(session, job.id))
        if job
        else None,
    }


@router.get("/admin/prompt-sets/{prompt_set_id}/generation", response_class=HTMLResponse)
def generation_page(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> HTMLResponse:
    return render(request, "generation/admin.html", generation_context(session, prompt_set_id))


@router.post(
    "/admin/prompt-sets/{prompt_set_id}/generation/start",
    dependencies=[Depends(verify_csrf_form)],
)
def start_generation(
    prompt_set_id: Id,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    regenerate: bool = Form(default=False),
) -> RedirectResponse:
    try:
        job = jobs.create_job(
            session,
            prompt_set_id=prompt_set_id,
            created_by_id=user.id,
            regenerate=regenerate,
            app_settings=request.app.state.settings,
        )
    except AppError as exc:
        if exc.status == 404:
            raise
        flash(request, exc.message, "error")
    else:
        if job.total:
            flash(request, f"Generation job #{job.id} queued for {job.total} prompts.")
        else:
            flash(request, "Every prompt already has its candidates; nothing to generate.")
    return RedirectResponse(f"/admin/prompt-sets/{prompt_set_id}/generation", status_code=303)


@router.post(
    "/admin/prompt-sets/{prompt_set_id}/generation/jobs/{job_id}/cancel",
    dependencies=[Depends(verify_csrf_form)],
)
def cancel_generation(
    prompt_set_id: Id, job_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> RedirectResponse:
    try:
        jobs.cancel_job(session, job_id=job_id)
        flash(request, f"Generation job #{job_id} cancelled.")
    except AppError as exc:
        if exc.status == 404:
            raise
        flash(request, exc.message, "error")
    return RedirectResponse(f"/admin/prompt-sets/{prompt_set_id}/generation", status_code=303)
