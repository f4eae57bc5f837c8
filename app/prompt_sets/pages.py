"""Admin pages for prompt sets: list, create, edit, pause/resume/archive, import, prompts.

Saving the edit form lives in app.generation.pages: it may also queue a regeneration job.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.deps import AdminUser
from app.core.csrf import verify_csrf_form
from app.core.db import SessionDep
from app.core.errors import InvalidInput
from app.core.forms import FormFields
from app.core.templating import flash, render
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Prompt
from app.prompt_sets.schemas import PromptSetCreate, field_errors
from app.prompt_sets.set_form import form_context, form_to_fields, form_values, rerender_form

router = APIRouter(tags=["pages"])
CSRF = [Depends(verify_csrf_form)]
PROMPTS_PER_PAGE = 50


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- the list -----------------------------------------------------------------------------


def admin_home_context(session: Session) -> dict:
    counts = dict(
        session.execute(
            select(Prompt.prompt_set_id, func.count()).group_by(Prompt.prompt_set_id)
        ).all()
    )
    sets = prompt_set_service.list_prompt_sets(session)
    return {
        "prompt_sets": [
            {"id": s.id, "name": s.name, "status": s.status, "prompts": counts.get(s.id, 0)}
            for s in sets
        ]
    }


@router.get("/admin", response_class=HTMLResponse)
def admin_home(request: Request, session: SessionDep, user: AdminUser) -> HTMLResponse:
    return render(request, "prompt_sets/admin_home.html", admin_home_context(session))


# --- create and edit ------------------------------------------------------------------------


@router.get("/admin/prompt-sets/new", response_class=HTMLResponse)
def new_prompt_set(request: Request, session: SessionDep, user: AdminUser) -> HTMLResponse:
    return render(request, "prompt_sets/form.html", form_context(session, None, form_values()))


@router.post("/admin/prompt-sets/new", dependencies=CSRF)
def create_prompt_set(
    request: Request, session: SessionDep, user: AdminUser, form: FormFields
) -> Response:
    if form.get("action") == "preview":
        return rerender_form(request, session, None, form, [], preview=True)
    try:
        data = PromptSetCreate(**form_to_fields(form))
        ps = prompt_set_service.create_prompt_set(session, data=data, created_by_id=user.id)
    except ValidationError as exc:
        return rerender_form(request, session, None, form, field_errors(exc))
    except InvalidInput as exc:
        return rerender_form(request, session, None, form, exc.errors or [{"message": exc.message}])
    flash(request, f"Created prompt set {ps.name!r}. Import prompts next.")
    return _see_other(f"/admin/prompt-sets/{ps.id}")


@router.get("/admin/prompt-sets/{prompt_set_id}/edit", response_class=HTMLResponse)
def edit_prompt_set(
    prompt_set_id: int, request: Request, session: SessionDep, user: AdminUser
) -> HTMLResponse:
    ps = prompt_set_service.load_prompt_set(session, prompt_set_id)
    return render(request, "prompt_sets/form.html", form_context(session, ps, form_values(ps)))


@router.post("/admin/prompt-sets/{prompt_set_id}/status", dependencies=CSRF)
def change_status(
    prompt_set_id: int, request: Request, session: SessionDep, user: AdminUser, form: FormFields
) -> Response:
    status = form.get("status", "")
    ps = prompt_set_service.set_status(session, prompt_set_id=prompt_set_id, status=status)
    flash(request, f"Prompt set {ps.name!r} {prompt_set_service.STATUS_VERBS[status]}.")
    return _see_other(f"/admin/prompt-sets/{prompt_set_id}")


# --- prompts ----------------------------------------------------------------------------


def _prompt_row(prompt: Prompt) -> dict[str, Any]:
    # A chat prompt is previewed by its last (user) turn.
    last_turn = (prompt.messages or [{}])[-1].get("content", "")
    return {
        "id": prompt.id,
        "external_id": prompt.external_id,
        "preview": (prompt.text if prompt.text is not None else last_turn)[:160],
        "turns": len(prompt.messages) if prompt.messages else 1,
        "status": prompt.status,
        "candidates_ready": prompt.candidates_ready,
        "is_gold": prompt.is_gold,
    }


def prompts_context(session: Session, prompt_set_id: int, page: int) -> dict:
    ps = prompt_set_service.load_prompt_set(session, prompt_set_id)
    total = prompt_set_service.prompt_count(session, prompt_set_id)
    rows = session.execute(
        select(Prompt)
        .where(Prompt.prompt_set_id == prompt_set_id)
        .order_by(Prompt.id)
        .offset((page - 1) * PROMPTS_PER_PAGE)
        .limit(PROMPTS_PER_PAGE)
    ).scalars()
    prompts = [_prompt_row(p) for p in rows]
    pages = max(1, -(-total // PROMPTS_PER_PAGE))
    return {"prompt_set": ps, "prompts": prompts, "page": page, "pages": pages, "total": total}


@router.get("/admin/prompt-sets/{prompt_set_id}/prompts", response_class=HTMLResponse)
def list_prompts(
    prompt_set_id: int, request: Request, session: SessionDep, user: AdminUser, page: int = 1
) -> HTMLResponse:
    context = prompts_context(session, prompt_set_id, max(1, page))
    return render(request, "prompt_sets/prompts.html", context)
