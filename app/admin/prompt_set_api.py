"""JSON for the admin's views that combine domains: a set's dashboard numbers, its
annotator table, and deleting a prompt (archived instead once annotated)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from pydantic import BaseModel

from app.accounts.deps import AdminUser
from app.admin.prompt_set_pages import dashboard_context
from app.analytics.reports import annotator_stats
from app.annotation import prompt_removal
from app.core.db import SessionDep
from app.core.inputs import Id
from app.prompt_sets import service as prompt_set_service

router = APIRouter(prefix="/api/v1", tags=["prompt sets"])


class PromptOutcome(BaseModel):
    id: int
    outcome: str  # "deleted" or "archived"


@router.delete("/prompts/{prompt_id}", response_model=PromptOutcome)
def delete_prompt(prompt_id: Id, session: SessionDep, user: AdminUser) -> PromptOutcome:
    outcome = prompt_removal.delete_or_archive_prompt(session, prompt_id=prompt_id)
    return PromptOutcome(id=prompt_id, outcome=outcome)


@router.get("/prompt-sets/{prompt_set_id}/dashboard")
def prompt_set_dashboard(prompt_set_id: Id, session: SessionDep, user: AdminUser) -> dict:
    """The dashboard's numbers as JSON: progress, generation jobs, agreement, models, and
    per judge version its agreement with people, position-flip rate and length bias."""
    context = dashboard_context(session, prompt_set_id)
    progress = context["progress"]
    return {
        "progress": {**asdict(progress), "annotation_share": progress.annotation_share},
        "generation_jobs": context["jobs"],
        "pairwise_agreement": context["agreement"],
        # The table's `win_rate` keeps its older name `rate` in this API.
        "models": [{**row, "rate": row["win_rate"]} for row in context["models"].get("table", [])],
        "judges": context["judges"],
    }


@router.get("/prompt-sets/{prompt_set_id}/annotators")
def prompt_set_annotators(prompt_set_id: Id, session: SessionDep, user: AdminUser) -> list[dict]:
    """Per annotator: annotations, median seconds, skip and flag rates, agreement, gold."""
    prompt_set_service.load_prompt_set(session, prompt_set_id)
    return [asdict(row) for row in annotator_stats(session, prompt_set_id)]
