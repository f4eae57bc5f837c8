"""JSON routes for a prompt set's judges: create, edit (a new version), list; runs; rankings.

Admins create, edit, run and cancel; researchers (and admins) read judges, runs and
rankings; annotators get 403 everywhere here.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from app.accounts.deps import AdminUser, ResearcherUser
from app.core.db import SessionDep
from app.core.inputs import Bool, Id
from app.judges import service
from app.judges.schemas import JudgeEdit, JudgeIn, JudgeOut, JudgeRankingOut
from app.prompt_sets import service as prompt_set_service

router = APIRouter(prefix="/api/v1/prompt-sets/{prompt_set_id}", tags=["judges"])


@router.get("/judges", response_model=list[JudgeOut])
def list_judges(
    prompt_set_id: Id,
    session: SessionDep,
    user: ResearcherUser,
    all_versions: Bool = Query(default=False),
) -> list[JudgeOut]:
    """The set's judges: current versions, or every version with `all_versions=true`."""
    prompt_set_service.load_prompt_set(session, prompt_set_id)
    judges = service.list_judges(session, prompt_set_id, all_versions=all_versions)
    return [service.judge_out(j) for j in judges]


@router.post("/judges", status_code=201, response_model=JudgeOut)
def create_judge(
    prompt_set_id: Id, body: JudgeIn, request: Request, session: SessionDep, user: AdminUser
) -> JudgeOut:
    judge = service.create_judge(
        session,
        prompt_set_id=prompt_set_id,
        data=body,
        created_by_id=user.id,
        app_settings=request.app.state.settings,
    )
    return service.judge_out(judge)


@router.get("/judges/{judge_id}", response_model=JudgeOut)
def get_judge(
    prompt_set_id: Id, judge_id: Id, session: SessionDep, user: ResearcherUser
) -> JudgeOut:
    return service.judge_out(service.load_judge(session, judge_id, prompt_set_id))


@router.patch("/judges/{judge_id}", status_code=201, response_model=JudgeOut)
def edit_judge(
    prompt_set_id: Id,
    judge_id: Id,
    body: JudgeEdit,
    request: Request,
    session: SessionDep,
    user: AdminUser,
) -> JudgeOut:
    """Write a new version with these fields changed (201: the new version)."""
    judge = service.edit_judge(
        session,
        prompt_set_id=prompt_set_id,
        judge_id=judge_id,
        data=body,
        created_by_id=user.id,
        app_settings=request.app.state.settings,
    )
    return service.judge_out(judge)


@router.get("/judges/{judge_id}/rankings", response_model=list[JudgeRankingOut])
def list_rankings(
    prompt_set_id: Id,
    judge_id: Id,
    session: SessionDep,
    user: ResearcherUser,
    status: Literal["ranked", "failed"] | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[JudgeRankingOut]:
    """This version's rankings, newest first; `status=failed` lists the outputs that could
    not be parsed (or calls that failed), with the raw text."""
    judge = service.load_judge(session, judge_id, prompt_set_id)
    rankings = service.list_rankings(session, judge, status=status, limit=limit)
    return [service.ranking_out(r) for r in rankings]


@router.post("/judges/{judge_id}/runs", status_code=202)
def start_run(
    prompt_set_id: Id, judge_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> JSONResponse:
    """Queue a run of this (current) version over the prompts it has not ranked yet."""
    run = service.queue_run(
        session,
        prompt_set_id=prompt_set_id,
        judge_id=judge_id,
        created_by_id=user.id,
        app_settings=request.app.state.settings,
    )
    return JSONResponse(service.run_progress(session, run), status_code=202)


@router.get("/judge-runs/{run_id}")
def get_run(
    prompt_set_id: Id, run_id: Id, session: SessionDep, user: ResearcherUser
) -> dict[str, Any]:
    return service.run_progress(session, service.load_run(session, run_id, prompt_set_id))


@router.post("/judge-runs/{run_id}/cancel")
def cancel_run(
    prompt_set_id: Id, run_id: Id, session: SessionDep, user: AdminUser
) -> dict[str, Any]:
    run = service.cancel_run(session, run_id=run_id, prompt_set_id=prompt_set_id)
    return service.run_progress(session, run)
