"""The "Reward model" tab of a prompt set: versions, metrics, the learning curve, routing.

Admins only, like every /admin page (researchers read the same through the JSON API:
versions, metrics, scores, downloads). Annotators never see scores.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from app.accounts.deps import AdminUser
from app.core.csrf import verify_csrf_form
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.forms import FormFields
from app.core.inputs import Id
from app.core.templating import flash, render
from app.prompt_sets.service import PromptSetArchived
from app.reward import service, views
from app.reward.schemas import RoutingIn

router = APIRouter(tags=["pages"])
CSRF = [Depends(verify_csrf_form)]


def _tab(prompt_set_id: Id) -> RedirectResponse:
    return RedirectResponse(f"/admin/prompt-sets/{prompt_set_id}/reward-model", status_code=303)


def _flash_or_raise(request: Request, exc: AppError) -> None:
    """404 and an archived set's 409 are the page's answer; other refusals (too few
    comparisons, a bad option) are shown on the tab."""
    if exc.status == 404 or isinstance(exc, PromptSetArchived):
        raise exc
    flash(request, exc.message, "error")


@router.get("/admin/prompt-sets/{prompt_set_id}/reward-model", response_class=HTMLResponse)
def reward_tab(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> HTMLResponse:
    context = views.reward_tab_context(session, prompt_set_id, request.app.state.settings)
    return render(request, "reward/tab.html", context)


@router.post("/admin/prompt-sets/{prompt_set_id}/reward-model/train", dependencies=CSRF)
def train_from_tab(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdminUser, form: FormFields
) -> RedirectResponse:
    options = {"kind": form.get("kind") or "fast", "backbone": form.get("backbone") or "smollm2"}
    try:
        version = service.create_version(
            session,
            prompt_set_id=prompt_set_id,
            options=options,
            created_by_id=user.id,
            app_settings=request.app.state.settings,
        )
    except AppError as exc:
        _flash_or_raise(request, exc)
    else:
        flash(request, f"Reward model version {version.id} ({version.kind}) queued.")
    return _tab(prompt_set_id)


@router.post(
    "/admin/prompt-sets/{prompt_set_id}/reward-model/versions/{version_id}/activate",
    dependencies=CSRF,
)
def activate_from_tab(
    prompt_set_id: Id, version_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> RedirectResponse:
    try:
        service.activate_version(
            session,
            version_id=version_id,
            prompt_set_id=prompt_set_id,
            app_settings=request.app.state.settings,
        )
    except AppError as exc:
        _flash_or_raise(request, exc)
    else:
        flash(request, f"Version {version_id} is now active; every candidate was scored.")
    return _tab(prompt_set_id)


@router.post("/admin/prompt-sets/{prompt_set_id}/reward-model/routing", dependencies=CSRF)
def routing_from_tab(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdminUser, form: FormFields
) -> RedirectResponse:
    fields = {"routing": form.get("routing"), "retrain_every": form.get("retrain_every") or 0}
    try:
        data = RoutingIn.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        flash(request, f"{first['loc'][0]}: {first['msg']}", "error")
        return _tab(prompt_set_id)
    prompt_set = service.set_routing(session, prompt_set_id=prompt_set_id, data=data)
    flash(request, f"Prompts are now handed out {prompt_set.routing.replace('_', ' ')}.")
    return _tab(prompt_set_id)
