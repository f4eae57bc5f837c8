"""A prompt set's admin pages that show its numbers: the dashboard (with the import form)
and the annotator table."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.accounts.deps import AdminUser
from app.analytics.reports import annotator_stats, dashboard_numbers
from app.annotation import adjudication, standing
from app.core.csrf import verify_csrf_form
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.inputs import Id
from app.core.templating import flash, render
from app.judges.quality import judge_quality
from app.prompt_sets import imports
from app.prompt_sets import service as prompt_set_service

router = APIRouter(tags=["pages"])
CSRF = [Depends(verify_csrf_form)]


def dashboard_context(session: Session, prompt_set_id: int) -> dict[str, Any]:
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    return {
        "prompt_set": prompt_set,
        **dashboard_numbers(session, prompt_set_id, prompt_set.annotators_per_prompt),
        "adjudication_queue": adjudication.queue_length(session, prompt_set_id=prompt_set_id),
        "judges": judge_quality(session, prompt_set_id),
        "import_error": None,
        "qualification_warning": prompt_set_service.qualification_warning(session, prompt_set),
    }


@router.get("/admin/prompt-sets/{prompt_set_id}", response_class=HTMLResponse)
def prompt_set_dashboard(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> HTMLResponse:
    context = dashboard_context(session, prompt_set_id)
    return render(request, "prompt_sets/dashboard.html", context)


@router.post("/admin/prompt-sets/{prompt_set_id}/imports", dependencies=CSRF)
def upload_import(
    prompt_set_id: Id,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    file: Annotated[UploadFile, File()],
) -> Response:
    try:
        result = imports.import_prompts(
            session, prompt_set_id=prompt_set_id, file=file.file, filename=file.filename
        )
    except AppError as exc:
        session.rollback()
        context = dashboard_context(session, prompt_set_id)
        context["import_error"] = {"message": exc.message, "errors": exc.errors}
        return render(request, "prompt_sets/dashboard.html", context, status_code=exc.status)
    flash(
        request,
        f"Imported {result.imported} prompts ({result.candidates} candidates); "
        f"skipped {result.skipped_duplicates} duplicates.",
    )
    return RedirectResponse(f"/admin/prompt-sets/{prompt_set_id}", status_code=303)


@router.get("/admin/prompt-sets/{prompt_set_id}/annotators", response_class=HTMLResponse)
def annotators(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> HTMLResponse:
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    context = {
        "prompt_set": prompt_set,
        "rows": annotator_stats(session, prompt_set_id),
        "standings": standing.list_standings(session, prompt_set_id=prompt_set_id),
        "qualification_warning": prompt_set_service.qualification_warning(session, prompt_set),
    }
    return render(request, "prompt_sets/annotators.html", context)
