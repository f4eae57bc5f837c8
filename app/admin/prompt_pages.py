"""A prompt's admin page: its candidates (with the active reward model's scores), how many
annotations it has, delete, gold. Admins only: annotators never see scores."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.deps import AdminUser
from app.annotation import prompt_removal
from app.core.csrf import verify_csrf_form
from app.core.db import SessionDep
from app.core.errors import InvalidInput
from app.core.forms import FormFields
from app.core.inputs import Id
from app.core.templating import flash, render
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Candidate, PromptSet
from app.prompt_sets.schemas import GoldIn
from app.reward import service as reward_service
from app.reward.scoring import prompt_scores

router = APIRouter(tags=["pages"])
CSRF = [Depends(verify_csrf_form)]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def prompt_context(session: Session, prompt_id: int, errors: list | None = None) -> dict:
    prompt = prompt_set_service.load_prompt(session, prompt_id)
    candidates = session.scalars(
        select(Candidate).where(Candidate.prompt_id == prompt_id).order_by(Candidate.position)
    ).all()
    active = reward_service.active_version(session, prompt.prompt_set_id)
    scored = prompt_scores(session, active.id, [prompt_id]) if active else {}
    score_of = {cid: (s, d) for cid, s, d in scored.get(prompt_id, [])}
    return {
        "prompt": prompt,
        "prompt_set": session.get(PromptSet, prompt.prompt_set_id),
        "candidates": [
            {
                "id": c.id,
                "position": c.position,
                "text": c.text,
                "model": c.model,
                "source": c.source,
                "generator": c.generator,
                "transcript": c.transcript,
                "score": score_of.get(c.id),  # (score, ensemble spread) or None
            }
            for c in candidates
        ],
        "annotations": prompt_removal.annotation_count(session, prompt_id),
        "reward_model_id": active.id if active else None,
        "gold_text": "; ".join(", ".join(str(i) for i in g) for g in prompt.gold_ranking or []),
        "errors": errors or [],
    }


@router.get("/admin/prompts/{prompt_id}", response_class=HTMLResponse)
def show_prompt(
    prompt_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> HTMLResponse:
    return render(request, "prompt_sets/prompt.html", prompt_context(session, prompt_id))


@router.post("/admin/prompts/{prompt_id}/delete", dependencies=CSRF)
def delete_prompt(
    prompt_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> Response:
    prompt_set_id = prompt_set_service.load_prompt(session, prompt_id).prompt_set_id
    outcome = prompt_removal.delete_or_archive_prompt(session, prompt_id=prompt_id)
    if outcome == "archived":
        flash(request, f"Prompt {prompt_id} has annotations, so it was archived instead.")
    else:
        flash(request, f"Prompt {prompt_id} deleted.")
    return _see_other(f"/admin/prompt-sets/{prompt_set_id}/prompts")


def parse_gold_form(form: dict[str, Any]) -> GoldIn:
    """ "3; 1, 4; 2" is a ranking of tie groups; a lone best candidate id is the other way."""
    ranking_text = form.get("ranking", "").strip()
    best = form.get("best_candidate_id", "").strip()
    try:
        if ranking_text:
            groups = [g for g in ranking_text.split(";") if g.strip()]
            return GoldIn(ranking=[[int(x) for x in g.split(",") if x.strip()] for g in groups])
        return GoldIn(best_candidate_id=int(best) if best else None)
    except ValueError as exc:
        raise InvalidInput(
            "Write the ranking as candidate ids, commas within a tie group and ';' between "
            "groups, e.g. '3; 1, 4; 2'.",
            errors=[{"field": "ranking", "message": "not a list of candidate ids"}],
        ) from exc


@router.post("/admin/prompts/{prompt_id}/gold", dependencies=CSRF)
def set_gold(
    prompt_id: Id, request: Request, session: SessionDep, user: AdminUser, form: FormFields
) -> Response:
    try:
        if form.get("action") == "clear":
            prompt_set_service.clear_gold(session, prompt_id=prompt_id)
            flash(request, f"Prompt {prompt_id} is no longer a gold item.")
        else:
            prompt_set_service.set_gold(session, prompt_id=prompt_id, data=parse_gold_form(form))
            flash(request, f"Prompt {prompt_id} is now a gold item.")
    except InvalidInput as exc:
        context = prompt_context(session, prompt_id, exc.errors or [{"message": exc.message}])
        return render(request, "prompt_sets/prompt.html", context, status_code=422)
    return _see_other(f"/admin/prompts/{prompt_id}")
