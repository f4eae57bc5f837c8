"""JSON routes for reward models: train, watch, activate, cancel, download, scores, routing.

Admins train, activate, cancel, rescore and set routing; researchers (and admins) read
versions, scores and download artifacts; annotators get 403 everywhere here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.background import BackgroundTask

from app.accounts.deps import AdminUser, ResearcherUser
from app.core.db import SessionDep
from app.core.inputs import Id
from app.prompt_sets import service as prompt_set_service
from app.reward import artifacts, service, views
from app.reward.errors import RewardModelNotReady
from app.reward.schemas import RoutingIn

router = APIRouter(prefix="/api/v1", tags=["reward models"])


def _out(version: Any) -> dict[str, Any]:
    return service.version_out(version).model_dump(mode="json")


@router.post("/prompt-sets/{prompt_set_id}/reward-models", status_code=202)
def train_reward_model(
    prompt_set_id: Id,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    body: dict[str, Any] | None = Body(default=None),
) -> JSONResponse:
    """Queue a version (`kind` fast|full, `backbone`, options); a worker trains it."""
    version = service.create_version(
        session,
        prompt_set_id=prompt_set_id,
        options=body or {},
        created_by_id=user.id,
        app_settings=request.app.state.settings,
    )
    return JSONResponse(_out(version), status_code=202)


@router.get("/prompt-sets/{prompt_set_id}/reward-models")
def list_reward_models(
    prompt_set_id: Id, session: SessionDep, user: ResearcherUser
) -> list[dict[str, Any]]:
    prompt_set_service.load_prompt_set(session, prompt_set_id)
    return [_out(v) for v in service.list_versions(session, prompt_set_id)]


@router.get("/reward-models/{version_id}")
def get_reward_model(version_id: Id, session: SessionDep, user: ResearcherUser) -> dict[str, Any]:
    """Status, progress, metrics and the learning curve of one version."""
    return _out(service.load_version(session, version_id))


@router.post("/reward-models/{version_id}/activate")
def activate_reward_model(
    version_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> dict[str, Any]:
    version = service.activate_version(
        session, version_id=version_id, app_settings=request.app.state.settings
    )
    return _out(version)


@router.post("/reward-models/{version_id}/cancel")
def cancel_reward_model(version_id: Id, session: SessionDep, user: AdminUser) -> dict[str, Any]:
    return _out(service.cancel_version(session, version_id=version_id))


@router.get("/reward-models/{version_id}/download")
def download_reward_model(
    version_id: Id, session: SessionDep, user: ResearcherUser
) -> FileResponse:
    """The version's folder as a zip (a fast head, or a Hugging Face model folder)."""
    version = service.load_version(session, version_id)
    folder = artifacts.existing_folder(version.artifact_path) if version.status == "done" else None
    if folder is None:
        raise RewardModelNotReady(
            f"Reward model {version_id} is {version.status} and has no files to download."
        )
    name = f"ranklab-reward-model-{version.id}"
    path = artifacts.zip_to_temp(folder, name)
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"{name}.zip",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.post("/prompt-sets/{prompt_set_id}/reward-models/score")
def rescore_prompt_set(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> dict[str, Any]:
    """Score every candidate with the active version again (409 when there is none)."""
    scored = service.rescore_set(
        session, prompt_set_id=prompt_set_id, app_settings=request.app.state.settings
    )
    return {"prompt_set_id": prompt_set_id, "scored": scored}


@router.get("/prompt-sets/{prompt_set_id}/scores")
def prompt_set_scores(
    prompt_set_id: Id,
    session: SessionDep,
    user: ResearcherUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Prompts in hand-out order with their candidates' scores by the active version."""
    return views.scores_payload(session, prompt_set_id, limit=limit)


@router.put("/prompt-sets/{prompt_set_id}/routing")
def set_routing(
    prompt_set_id: Id, body: RoutingIn, session: SessionDep, user: AdminUser
) -> dict[str, Any]:
    prompt_set = service.set_routing(session, prompt_set_id=prompt_set_id, data=body)
    return {"routing": prompt_set.routing, "retrain_every": prompt_set.retrain_every}
