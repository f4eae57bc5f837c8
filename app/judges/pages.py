"""Admin pages of a prompt set's judges: list and create, one judge's versions, edit (a new
version), start and cancel runs with live progress, and the failures with their raw text."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.accounts.deps import AdminUser
from app.core.csrf import verify_csrf_form
from app.core.db import SessionDep
from app.core.errors import AppError, InvalidInput
from app.core.forms import FormFields
from app.core.inputs import Id
from app.core.templating import flash, render
from app.judges import service
from app.judges.errors import JudgeNameTaken
from app.judges.models import Judge
from app.judges.rubric import DEFAULT_RUBRIC
from app.judges.schemas import JudgeEdit, JudgeIn
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.schemas import field_errors

router = APIRouter(tags=["pages"])
CSRF = [Depends(verify_csrf_form)]
BLANK_FORM = {
    "name": "",
    "mode": "listwise",
    "rubric": DEFAULT_RUBRIC,
    "settings": '{"backend": "transformers", "model": "smollm2"}',
    "suggest_to_annotators": "",
}


def _judges_url(prompt_set_id: int) -> str:
    return f"/admin/prompt-sets/{prompt_set_id}/judges"


def _row(session: Session, judge: Judge, runs: dict[int, Any]) -> dict[str, Any]:
    run = runs.get(judge.id)
    return {
        "judge": service.judge_out(judge),
        "progress": service.run_progress(session, run) if run else None,
    }


def judges_context(
    session: Session, prompt_set_id: int, form: dict[str, str] | None = None, errors: Any = ()
) -> dict[str, Any]:
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    judges = service.list_judges(session, prompt_set_id)
    runs = service.latest_runs(session, [j.id for j in judges])
    return {
        "prompt_set": {"id": prompt_set.id, "name": prompt_set.name},
        "judges": [_row(session, j, runs) for j in judges],
        "form": form or BLANK_FORM,
        "errors": list(errors),
    }


def judge_context(
    session: Session,
    prompt_set_id: int,
    judge_id: int,
    form: dict[str, str] | None = None,
    errors: Any = (),
) -> dict[str, Any]:
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    judge = service.load_judge(session, judge_id, prompt_set_id)
    runs = service.latest_runs(session, [judge.id])
    out = service.judge_out(judge)
    return {
        "prompt_set": {"id": prompt_set.id, "name": prompt_set.name},
        **_row(session, judge, runs),
        "versions": [service.judge_out(v) for v in service.versions_of(session, judge)],
        "failures": [
            service.ranking_out(r) for r in service.list_rankings(session, judge, status="failed")
        ],
        "form": form or _form_of(out.mode, out.rubric, out.settings, out.suggest_to_annotators),
        "errors": list(errors),
    }


def _form_of(mode: str, rubric: str, settings: dict[str, Any], suggest: bool) -> dict[str, str]:
    return {
        "mode": mode,
        "rubric": rubric,
        "settings": json.dumps(settings),
        "suggest_to_annotators": "true" if suggest else "",
    }


def _fields(form: dict[str, str]) -> dict[str, Any]:
    """The posted form as JudgeIn/JudgeEdit fields; settings JSON that does not parse is a
    422 naming `settings`."""
    raw = (form.get("settings") or "").strip() or "{}"
    try:
        settings = json.loads(raw)
    except ValueError as exc:
        message = f"not valid JSON ({exc})"
        raise InvalidInput(
            f"settings: {message}", errors=[{"field": "settings", "message": message}]
        ) from None
    return {
        "mode": form.get("mode") or "listwise",
        "rubric": form.get("rubric") or "",
        "settings": settings,
        "suggest_to_annotators": form.get("suggest_to_annotators") == "true",
    }


def _problems(exc: Exception) -> list[dict[str, Any]]:
    if isinstance(exc, ValidationError):
        return field_errors(exc)
    assert isinstance(exc, AppError)
    return exc.errors or [{"field": None, "message": exc.message}]


@router.get("/admin/prompt-sets/{prompt_set_id}/judges", response_class=HTMLResponse)
def judges_page(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> HTMLResponse:
    return render(request, "judges/list.html", judges_context(session, prompt_set_id))


@router.post("/admin/prompt-sets/{prompt_set_id}/judges", dependencies=CSRF)
def create_from_form(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdminUser, form: FormFields
) -> Response:
    try:
        data = JudgeIn.model_validate({"name": form.get("name", ""), **_fields(form)})
        judge = service.create_judge(
            session,
            prompt_set_id=prompt_set_id,
            data=data,
            created_by_id=user.id,
            app_settings=request.app.state.settings,
        )
    except (ValidationError, InvalidInput, JudgeNameTaken) as exc:
        session.rollback()
        context = judges_context(session, prompt_set_id, form, _problems(exc))
        status = exc.status if isinstance(exc, AppError) else 422
        return render(request, "judges/list.html", context, status_code=status)
    flash(request, f"Judge {judge.name!r} (version 1) created.")
    return RedirectResponse(f"{_judges_url(prompt_set_id)}/{judge.id}", status_code=303)


@router.get("/admin/prompt-sets/{prompt_set_id}/judges/{judge_id}", response_class=HTMLResponse)
def judge_page(
    prompt_set_id: Id, judge_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> HTMLResponse:
    return render(request, "judges/judge.html", judge_context(session, prompt_set_id, judge_id))


@router.post("/admin/prompt-sets/{prompt_set_id}/judges/{judge_id}/edit", dependencies=CSRF)
def edit_from_form(
    prompt_set_id: Id,
    judge_id: Id,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    form: FormFields,
) -> Response:
    try:
        judge = service.edit_judge(
            session,
            prompt_set_id=prompt_set_id,
            judge_id=judge_id,
            data=JudgeEdit.model_validate(_fields(form)),
            created_by_id=user.id,
            app_settings=request.app.state.settings,
        )
    except (ValidationError, InvalidInput) as exc:
        session.rollback()
        context = judge_context(session, prompt_set_id, judge_id, form, _problems(exc))
        return render(request, "judges/judge.html", context, status_code=422)
    except AppError as exc:
        if exc.status == 404:
            raise
        flash(request, exc.message, "error")
        return RedirectResponse(f"{_judges_url(prompt_set_id)}/{judge_id}", status_code=303)
    flash(request, f"Saved as version {judge.version} of {judge.name!r}.")
    return RedirectResponse(f"{_judges_url(prompt_set_id)}/{judge.id}", status_code=303)


@router.post("/admin/prompt-sets/{prompt_set_id}/judges/{judge_id}/runs", dependencies=CSRF)
def start_from_form(
    prompt_set_id: Id, judge_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> RedirectResponse:
    try:
        run = service.queue_run(
            session,
            prompt_set_id=prompt_set_id,
            judge_id=judge_id,
            created_by_id=user.id,
            app_settings=request.app.state.settings,
        )
    except AppError as exc:
        if exc.status == 404:
            raise
        flash(request, exc.message, "error")
    else:
        if run.total:
            flash(request, f"Judge run #{run.id} queued for {run.total} prompts.")
        else:
            flash(request, "This version has ranked every prompt with candidates; nothing to do.")
    return RedirectResponse(f"{_judges_url(prompt_set_id)}/{judge_id}", status_code=303)


@router.post("/admin/prompt-sets/{prompt_set_id}/judge-runs/{run_id}/cancel", dependencies=CSRF)
def cancel_from_form(
    prompt_set_id: Id, run_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> RedirectResponse:
    try:
        run = service.cancel_run(session, run_id=run_id, prompt_set_id=prompt_set_id)
    except AppError as exc:
        if exc.status == 404:
            raise
        flash(request, exc.message, "error")
        return RedirectResponse(_judges_url(prompt_set_id), status_code=303)
    flash(request, f"Judge run #{run_id} cancelled.")
    return RedirectResponse(f"{_judges_url(prompt_set_id)}/{run.judge_id}", status_code=303)
