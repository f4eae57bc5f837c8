"""Admins and annotators' qualification and calibration standings: see them, lift a
pause, let a failed annotator retry (app.annotation.standing holds the rules)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from app.accounts.deps import AdminUser
from app.annotation import standing
from app.core.csrf import verify_csrf_form
from app.core.db import SessionDep
from app.core.forms import FormFields
from app.core.inputs import Id
from app.core.templating import flash
from app.prompt_sets import service as prompt_set_service

router = APIRouter(tags=["pages"])
# Its own router under /api/v1, so the app declares the API's error responses for it.
api_router = APIRouter(prefix="/api/v1", tags=["prompt sets"])


def _row_json(row: standing.StandingRow) -> dict[str, Any]:
    return {**asdict(row), "updated_at": row.updated_at.isoformat()}


@router.post(
    "/admin/prompt-sets/{prompt_set_id}/standings/{user_id}/lift",
    dependencies=[Depends(verify_csrf_form)],
)
def lift_page(
    prompt_set_id: Id,
    user_id: Id,
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    form: FormFields,
) -> RedirectResponse:
    row = standing.lift(session, prompt_set_id=prompt_set_id, annotator_id=user_id, admin=admin)
    flash(request, f"{row.username} is {row.state} again in {row.prompt_set_name!r}.")
    back = (
        f"/admin/users/{user_id}"
        if form.get("back") == "user"
        else f"/admin/prompt-sets/{prompt_set_id}/annotators"
    )
    return RedirectResponse(back, status_code=303)


class StandingsOut(BaseModel):
    qualification_warning: str | None
    standings: list[dict[str, Any]]


@api_router.get("/prompt-sets/{prompt_set_id}/standings", response_model=StandingsOut)
def list_standings(prompt_set_id: Id, session: SessionDep, admin: AdminUser) -> StandingsOut:
    """Every annotator's standing in the set (qualifying, qualified, failed, paused) with
    the numbers behind it, and a warning when the qualification round cannot run."""
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    rows = standing.list_standings(session, prompt_set_id=prompt_set_id)
    return StandingsOut(
        qualification_warning=prompt_set_service.qualification_warning(session, prompt_set),
        standings=[_row_json(row) for row in rows],
    )


class LiftOut(BaseModel):
    state: Literal["qualifying", "qualified"]
    standing: dict[str, Any]


@api_router.post("/prompt-sets/{prompt_set_id}/standings/{user_id}/lift", response_model=LiftOut)
def lift(prompt_set_id: Id, user_id: Id, session: SessionDep, admin: AdminUser) -> LiftOut:
    """Lift a pause (back to qualified) or let a failed annotator retry the qualification
    round (back to qualifying); 409 when they are neither failed nor paused."""
    row = standing.lift(session, prompt_set_id=prompt_set_id, annotator_id=user_id, admin=admin)
    return LiftOut(state=row.state, standing=_row_json(row))
