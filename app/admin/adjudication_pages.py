"""The adjudication queue of a prompt set (issue 13): prompts still contested at the
set's annotators_max, for admins and expert annotators to settle."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.accounts.deps import AdjudicatorUser
from app.annotation import adjudication
from app.core.csrf import verify_csrf_form
from app.core.db import SessionDep
from app.core.errors import InvalidInput
from app.core.forms import FormFields
from app.core.inputs import Id
from app.core.templating import flash, render
from app.prompt_sets import service as prompt_set_service

router = APIRouter(tags=["pages"])
CSRF = [Depends(verify_csrf_form)]


def queue_context(session: Session, prompt_set_id: int) -> dict[str, Any]:
    return {
        "prompt_set": prompt_set_service.load_prompt_set(session, prompt_set_id),
        "queue": adjudication.queue(session, prompt_set_id=prompt_set_id),
    }


def item_context(
    session: Session,
    prompt_set_id: int,
    prompt_id: int,
    values: dict[str, Any] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "prompt_set": prompt_set_service.load_prompt_set(session, prompt_set_id),
        "item": adjudication.item(session, prompt_set_id=prompt_set_id, prompt_id=prompt_id),
        "values": values or {},
        "errors": {e.get("field") or "form": e["message"] for e in errors or []},
    }


@router.get("/admin/prompt-sets/{prompt_set_id}/adjudication", response_class=HTMLResponse)
def queue_page(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdjudicatorUser
) -> HTMLResponse:
    return render(request, "adjudication/queue.html", queue_context(session, prompt_set_id))


@router.get(
    "/admin/prompt-sets/{prompt_set_id}/adjudication/{prompt_id}", response_class=HTMLResponse
)
def item_page(
    prompt_set_id: Id, prompt_id: Id, request: Request, session: SessionDep, user: AdjudicatorUser
) -> HTMLResponse:
    context = item_context(session, prompt_set_id, prompt_id)
    return render(request, "adjudication/item.html", context)


@router.post("/admin/prompt-sets/{prompt_set_id}/adjudication/{prompt_id}", dependencies=CSRF)
def adjudicate(
    prompt_set_id: Id,
    prompt_id: Id,
    request: Request,
    session: SessionDep,
    user: AdjudicatorUser,
    form: FormFields,
) -> Response:
    try:
        ids = prompt_set_service.candidate_ids(session, prompt_id)
        adjudication.adjudicate(
            session,
            prompt_set_id=prompt_set_id,
            prompt_id=prompt_id,
            adjudicator=user,
            ranking=adjudication.ranking_from_form(form, ids),
            note=str(form.get("note", "")),
        )
    except InvalidInput as exc:
        session.rollback()
        context = item_context(session, prompt_set_id, prompt_id, dict(form), exc.errors)
        return render(request, "adjudication/item.html", context, status_code=exc.status)
    flash(request, f"Prompt {prompt_id} adjudicated; the consensus export now uses your ranking.")
    return RedirectResponse(f"/admin/prompt-sets/{prompt_set_id}/adjudication", status_code=303)
