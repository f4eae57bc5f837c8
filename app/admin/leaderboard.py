"""The generator leaderboard: a prompt set's page and JSON, and the same across every
set pooled by generator name. The numbers come from app.analytics.reports.

Researchers read it too, so its pages live under /research (everything under /admin is
admin-only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.accounts.deps import ResearcherUser
from app.analytics import loaders
from app.analytics.reports import generator_leaderboard
from app.core.db import SessionDep
from app.core.inputs import Id
from app.core.templating import render
from app.prompt_sets import service as prompt_set_service

router = APIRouter(tags=["leaderboard"])
# Its own router under /api/v1, so the app declares the API's error responses for it.
api_router = APIRouter(prefix="/api/v1", tags=["leaderboard"])


@api_router.get("/prompt-sets/{prompt_set_id}/leaderboard")
def prompt_set_leaderboard(
    prompt_set_id: Id, session: SessionDep, user: ResearcherUser
) -> dict[str, Any]:
    """Generators ranked: raw and style-controlled Bradley–Terry strengths with 95%
    intervals, the pairwise win-rate matrix and per-category standings."""
    prompt_set_service.load_prompt_set(session, prompt_set_id)
    return dict(generator_leaderboard(session, [prompt_set_id])["board"])


@api_router.get("/leaderboard")
def pooled_leaderboard(
    session: SessionDep,
    user: ResearcherUser,
    prompt_set: list[Id] | None = Query(default=None, max_length=100),  # noqa: B008 (FastAPI's idiom)
) -> dict[str, Any]:
    """Across sets (default: all), pooling generators that share a name."""
    set_ids = _set_ids(session, prompt_set)
    return {"prompt_sets": set_ids, **generator_leaderboard(session, set_ids)["board"]}


def _set_ids(session: SessionDep, chosen: list[int] | None) -> list[int]:
    if not chosen:
        return loaders.load_prompt_set_ids(session)
    for set_id in chosen:
        prompt_set_service.load_prompt_set(session, set_id)  # 404 for an unknown set
    return chosen


@router.get("/research/prompt-sets/{prompt_set_id}/leaderboard", response_class=HTMLResponse)
def prompt_set_leaderboard_page(
    prompt_set_id: Id, request: Request, session: SessionDep, user: ResearcherUser
) -> HTMLResponse:
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    report = generator_leaderboard(session, [prompt_set_id])
    return render(
        request,
        "prompt_sets/leaderboard.html",
        {"prompt_set": prompt_set, "title": f"{prompt_set.name}: leaderboard", **report},
    )


@router.get("/research/leaderboard", response_class=HTMLResponse)
def pooled_leaderboard_page(
    request: Request, session: SessionDep, user: ResearcherUser
) -> HTMLResponse:
    report = generator_leaderboard(session, loaders.load_prompt_set_ids(session))
    return render(
        request,
        "prompt_sets/leaderboard.html",
        {"prompt_set": None, "title": "Leaderboard across prompt sets", **report},
    )
