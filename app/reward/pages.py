"""The "Reward model" tab of a prompt set: versions, metrics, the learning curve, routing.

Admins only, like every /admin page (researchers read the same through the JSON API:
versions, metrics, scores, downloads). Annotators never see scores.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.accounts.deps import AdminUser
from app.core.csrf import verify_csrf_form
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.templating import flash, render
from app.reward import service, views
from app.reward.schemas import RoutingIn

router = APIRouter(tags=["pages"])
CSRF = [Depends(verify_csrf_form)]


def _tab(prompt_set_id: int) -> str:
    return f"/admin/prompt-sets/{prompt_set_id}/reward-model"


@router.get("/admin/prompt-sets/{prompt_set_id}/reward-model", response_class=HTMLResponse)
def reward_tab(
    prompt_set_id: int, request: Request, session: SessionDep, user: AdminUser
) -> HTMLResponse:
    context = views.reward_tab_context(session, prompt_set_id, request.app.state.settings)
    return render(request, "reward/tab.html", context)


@router.post("/admin/prompt-sets/{prompt_set_id}/reward-model/train", dependencies=CSRF)
def train_from_tab(
    prompt_set_id: int,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    kind: str = Form(default="fast"),
    backbone: str = Form(default="smollm2"),
) -> RedirectResponse:
    try:
        version = service.create_version(
            session,
            prompt_set_id=prompt_set_id,
            options={"kind": kind, "backbone": backbone},
            created_by_id=user.id,
            app_settings=request.app.state.settings,
        )
    except AppError as exc:
        if exc.status == 404:
            raise
        flash(request, exc.message, "error")
    else:
        flash(request, f"Reward model version {version.id} ({version.kind}) queued.")
    return RedirectResponse(_tab(prompt_set_id), status_code=303)


@router.post(
    "/admin/prompt-sets/{prompt_set_id}/reward-model/versions/{version_id}/activate",
    dependencies=CSRF,
)
def activate_from_tab(
    prompt_set_id: int, version_id: int, request: Request, session: SessionDep, user: AdminUser
) -> RedirectResponse:
    try:
        service.activate_version(
            session, version_id=version_id, app_settings=request.app.state.settings
        )
    except AppError as exc:
        if exc.status == 404:
            raise
        flash(request, exc.message, "error")
    else:
        flash(request, f"Version {version_id} is now active; every candidate was scored.")
    return RedirectResponse(_tab(prompt_set_id), status_code=303)


@router.post("/admin/prompt-sets/{prompt_set_id}/reward-model/routing", dependencies=CSRF)
def routing_from_tab(
    prompt_set_id: int,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    routing: str = Form(),
    retrain_every: int = Form(default=0),
) -> RedirectResponse:
    data = RoutingIn.model_validate({"routing": routing, "retrain_every": retrain_every})
    prompt_set = service.set_routing(session, prompt_set_id=prompt_set_id, data=data)
    flash(request, f"Prompts are now handed out {prompt_set.routing.replace('_', ' ')}.")
    return RedirectResponse(_tab(prompt_set_id), status_code=303)
