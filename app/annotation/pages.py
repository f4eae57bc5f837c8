"""Annotator pages (the annotation issue grows this into the ranking screen)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.deps import AnnotatorUser
from app.core.db import SessionDep
from app.core.templating import render
from app.prompt_sets.models import PromptSet

router = APIRouter(tags=["pages"])


def annotate_home_context(session: Session) -> dict:
    sets = session.scalars(select(PromptSet).where(PromptSet.status == "active")).all()
    return {"prompt_sets": [{"id": s.id, "name": s.name} for s in sets]}


@router.get("/annotate", response_class=HTMLResponse)
def annotate_home(request: Request, session: SessionDep, user: AnnotatorUser) -> HTMLResponse:
    return render(request, "annotation/home.html", annotate_home_context(session))
