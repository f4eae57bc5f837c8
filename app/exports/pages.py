"""Research pages (the export issue grows this into the export builder and stats)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.deps import ResearcherUser
from app.core.db import SessionDep
from app.core.templating import render
from app.prompt_sets.models import PromptSet

router = APIRouter(tags=["pages"])


def research_home_context(session: Session) -> dict:
    sets = session.scalars(select(PromptSet).order_by(PromptSet.name)).all()
    return {"prompt_sets": [{"id": s.id, "name": s.name, "status": s.status} for s in sets]}


@router.get("/research", response_class=HTMLResponse)
def research_home(request: Request, session: SessionDep, user: ResearcherUser) -> HTMLResponse:
    return render(request, "exports/research_home.html", research_home_context(session))
