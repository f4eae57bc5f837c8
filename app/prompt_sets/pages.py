"""Admin pages for prompt sets (the admin issue grows this into the full dashboard)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.deps import AdminUser
from app.core.db import SessionDep
from app.core.templating import render
from app.prompt_sets.models import Prompt, PromptSet

router = APIRouter(tags=["pages"])


def admin_home_context(session: Session) -> dict:
    counts = dict(
        session.execute(
            select(Prompt.prompt_set_id, func.count()).group_by(Prompt.prompt_set_id)
        ).all()
    )
    sets = session.scalars(select(PromptSet).order_by(PromptSet.created_at.desc())).all()
    return {
        "prompt_sets": [
            {"id": s.id, "name": s.name, "status": s.status, "prompts": counts.get(s.id, 0)}
            for s in sets
        ]
    }


@router.get("/admin", response_class=HTMLResponse)
def admin_home(request: Request, session: SessionDep, user: AdminUser) -> HTMLResponse:
    return render(request, "prompt_sets/admin_home.html", admin_home_context(session))
