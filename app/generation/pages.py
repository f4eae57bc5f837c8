"""Admin page of a prompt set's generation: start, cancel, watch the live progress bar.

Also the save of the prompt set's edit form: with "regenerate" it queues a job, so it is a
generation use case (the form itself is app.prompt_sets.set_form).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.deps import AdminUser
from app.core.csrf import verify_csrf_form
from app.core.db import SessionDep
from app.core.errors import AppError, InvalidInput
from app.core.forms import FormFields
from app.core.templating import flash, render
from app.generation import jobs, service
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Prompt
from app.prompt_sets.schemas import PromptSetPatch, field_errors
from app.prompt_sets.set_form import form_to_fields, rerender_form

router = APIRouter(tags=["pages"])


def generation_context(session: Session, prompt_set_id: int) -> dict[str, Any]:
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
    prompt_set_id: int, request: Request, session: SessionDep, user: AdminUser
) -> HTMLResponse:
    return render(request, "generation/admin.html", generation_context(session, prompt_set_id))


@router.post(
    "/admin/prompt-sets/{prompt_set_id}/generation/start",
    dependencies=[Depends(verify_csrf_form)],
)
def start_generation(
    prompt_set_id: int,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    regenerate: bool = Form(default=False),
) -> RedirectResponse:
    try:
        job = service.start_generation(
            session,
            prompt_set_id=prompt_set_id,
            created_by_id=user.id,
            regenerate=regenerate,
            app_settings=request.app.state.settings,
        )
    except prompt_set_service.PromptSetArchived:
        raise  # 409: nothing on this page can change an archived set
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
    prompt_set_id: int, job_id: int, request: Request, session: SessionDep, user: AdminUser
) -> RedirectResponse:
    try:
        service.cancel_generation(session, job_id=job_id, prompt_set_id=prompt_set_id)
        flash(request, f"Generation job #{job_id} cancelled.")
    except AppError as exc:
        if exc.status == 404:
            raise
        flash(request, exc.message, "error")
    return RedirectResponse(f"/admin/prompt-sets/{prompt_set_id}/generation", status_code=303)


@router.post("/admin/prompt-sets/{prompt_set_id}/edit", dependencies=[Depends(verify_csrf_form)])
def update_prompt_set(
    prompt_set_id: int, request: Request, session: SessionDep, user: AdminUser, form: FormFields
) -> Response:
    ps = prompt_set_service.load_prompt_set(session, prompt_set_id)
    if form.get("action") == "preview":
        return rerender_form(request, session, ps, form, [], preview=True)
    try:
        fields = form_to_fields(form, stored_generation=ps.generation)
        changes = PromptSetPatch(**fields, regenerate="regenerate" in form)
        result = service.edit_prompt_set(
            session,
            prompt_set_id=prompt_set_id,
            changes=changes,
            user_id=user.id,
            app_settings=request.app.state.settings,
        )
    except ValidationError as exc:
        return rerender_form(request, session, ps, form, field_errors(exc))
    except InvalidInput as exc:
        session.rollback()
        return rerender_form(request, session, ps, form, exc.errors or [{"message": exc.message}])
    message = "Saved."
    if result.regeneration_job_id is not None:
        message += " Regenerating the candidates of prompts without annotations."
    elif result.generation_changed and prompt_set_service.has_candidates(session, prompt_set_id):
        message += " Existing candidates were kept."
    flash(request, message)
    return RedirectResponse(f"/admin/prompt-sets/{prompt_set_id}", status_code=303)
