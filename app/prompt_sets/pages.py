"""Admin pages for prompt sets: list, create, edit, pause/resume/archive, import, prompts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.deps import AdminUser
from app.core.csrf import verify_csrf_form
from app.core.db import SessionDep
from app.core.errors import AppError, InvalidInput
from app.core.inputs import Id
from app.core.templating import flash, render
from app.prompt_sets import annotator_stats, dashboard, imports
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from app.prompt_sets.schemas import (
    GenerationSettings,
    GoldIn,
    PromptSetCreate,
    PromptSetPatch,
    field_errors,
)

router = APIRouter(tags=["pages"])
CSRF = [Depends(verify_csrf_form)]
PROMPTS_PER_PAGE = 50
CHECKBOXES = ("require_rationale", "require_ratings")
GENERATION_INPUTS = ("backend", "model", "temperature", "top_p", "max_new_tokens")


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- the list -----------------------------------------------------------------------------


def admin_home_context(session: Session) -> dict:
    counts = dict(
        session.execute(
            select(Prompt.prompt_set_id, func.count()).group_by(Prompt.prompt_set_id)
        ).all()
    )
    sets = prompt_set_service.list_prompt_sets(session)
    return {
        "prompt_sets": [
            {"id": s.id, "name": s.name, "status": s.status, "prompts": counts.get(s.id, 0)}
            for s in sets
        ]
    }


@router.get("/admin", response_class=HTMLResponse)
def admin_home(request: Request, session: SessionDep, user: AdminUser) -> HTMLResponse:
    return render(request, "prompt_sets/admin_home.html", admin_home_context(session))


# --- create and edit ------------------------------------------------------------------------


def _parse_temperature(raw: str) -> Any:
    """ "0.8" -> 0.8; "0.5, 0.7, 1.0" -> a list, one per candidate; otherwise let pydantic say."""
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return raw
    return values[0] if len(values) == 1 and "," not in raw else values


def form_to_fields(form: dict[str, Any]) -> dict[str, Any]:
    """The flat HTML form to the nested JSON shape the API takes."""
    data = {k: v for k, v in form.items() if k not in GENERATION_INPUTS and k != "csrf_token"}
    for name in CHECKBOXES:
        data[name] = name in form
    data.pop("regenerate", None)
    data.pop("action", None)
    generation = {k: form[k] for k in GENERATION_INPUTS if form.get(k, "") != ""}
    if "temperature" in generation:
        generation["temperature"] = _parse_temperature(generation["temperature"])
    data["generation"] = generation
    return data


def form_values(prompt_set: PromptSet | None = None) -> dict[str, Any]:
    """What the form shows: defaults for a new set, current values when editing."""
    source = (
        PromptSetCreate(name="x").model_dump()
        if prompt_set is None
        else {name: getattr(prompt_set, name) for name in PromptSetCreate.model_fields}
    )
    if prompt_set is None:
        source["name"] = ""
    values = {k: v for k, v in source.items() if k != "generation"}
    # Sets stored before all settings existed fall back to the defaults, field by field.
    generation = {**GenerationSettings().model_dump(), **source["generation"]}
    t = generation.get("temperature", 0.8)
    generation["temperature"] = ", ".join(str(x) for x in t) if isinstance(t, list) else str(t)
    values.update({k: generation.get(k, "") for k in GENERATION_INPUTS})
    return values


def form_context(
    session: Session,
    prompt_set: PromptSet | None,
    values: dict[str, Any],
    errors: list[dict[str, Any]] | None = None,
    preview: bool = False,
) -> dict:
    by_field: dict[str, str] = {}
    for err in errors or []:
        name = (err.get("field") or "").removeprefix("generation.")
        by_field.setdefault(name or "form", err["message"])
    return {
        "prompt_set": prompt_set,
        "values": values,
        "errors": by_field,
        "preview": values.get("guidelines", "") if preview else None,
        "has_candidates": prompt_set is not None
        and prompt_set_service.has_candidates(session, prompt_set.id),
    }


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.get("/admin/prompt-sets/new", response_class=HTMLResponse)
def new_prompt_set(request: Request, session: SessionDep, user: AdminUser) -> HTMLResponse:
    return render(request, "prompt_sets/form.html", form_context(session, None, form_values()))


def _rerender(
    request: Request, session: Session, ps: PromptSet | None, form: dict, errors: list, **kw: Any
) -> HTMLResponse:
    context = form_context(session, ps, form, errors, **kw)
    return render(request, "prompt_sets/form.html", context, status_code=422 if errors else 200)


@router.post("/admin/prompt-sets/new", dependencies=CSRF)
async def create_prompt_set(request: Request, session: SessionDep, user: AdminUser) -> Response:
    form = await _form(request)
    if form.get("action") == "preview":
        return _rerender(request, session, None, form, [], preview=True)
    try:
        data = PromptSetCreate(**form_to_fields(form))
        ps = prompt_set_service.create_prompt_set(session, data=data, created_by_id=user.id)
    except ValidationError as exc:
        return _rerender(request, session, None, form, field_errors(exc))
    except InvalidInput as exc:
        return _rerender(request, session, None, form, exc.errors or [{"message": exc.message}])
    flash(request, f"Created prompt set {ps.name!r}. Import prompts next.")
    return _see_other(f"/admin/prompt-sets/{ps.id}")


@router.get("/admin/prompt-sets/{prompt_set_id}/edit", response_class=HTMLResponse)
def edit_prompt_set(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> HTMLResponse:
    ps = prompt_set_service.load_prompt_set(session, prompt_set_id)
    return render(request, "prompt_sets/form.html", form_context(session, ps, form_values(ps)))


@router.post("/admin/prompt-sets/{prompt_set_id}/edit", dependencies=CSRF)
async def update_prompt_set(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> Response:
    ps = prompt_set_service.load_prompt_set(session, prompt_set_id)
    form = await _form(request)
    if form.get("action") == "preview":
        return _rerender(request, session, ps, form, [], preview=True)
    try:
        changes = PromptSetPatch(**form_to_fields(form), regenerate="regenerate" in form)
        result = prompt_set_service.update_prompt_set(
            session, prompt_set_id=prompt_set_id, changes=changes, user_id=user.id
        )
    except ValidationError as exc:
        return _rerender(request, session, ps, form, field_errors(exc))
    except InvalidInput as exc:
        session.rollback()
        return _rerender(request, session, ps, form, exc.errors or [{"message": exc.message}])
    message = "Saved."
    if result.regeneration_job_id is not None:
        message += " Regenerating the candidates of prompts without annotations."
    elif result.generation_changed and prompt_set_service.has_candidates(session, prompt_set_id):
        message += " Existing candidates were kept."
    flash(request, message)
    return _see_other(f"/admin/prompt-sets/{prompt_set_id}")


@router.post("/admin/prompt-sets/{prompt_set_id}/status", dependencies=CSRF)
async def change_status(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> Response:
    status = (await _form(request)).get("status", "")
    ps = prompt_set_service.set_status(session, prompt_set_id=prompt_set_id, status=status)
    flash(request, f"Prompt set {ps.name!r} {prompt_set_service.STATUS_VERBS[status]}.")
    return _see_other(f"/admin/prompt-sets/{prompt_set_id}")


# --- dashboard and import ----------------------------------------------------------------


@router.get("/admin/prompt-sets/{prompt_set_id}", response_class=HTMLResponse)
def prompt_set_dashboard(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> HTMLResponse:
    context = dashboard.dashboard_context(session, prompt_set_id)
    return render(request, "prompt_sets/dashboard.html", context)


@router.post("/admin/prompt-sets/{prompt_set_id}/imports", dependencies=CSRF)
def upload_import(
    prompt_set_id: Id,
    request: Request,
    session: SessionDep,
    user: AdminUser,
    file: Annotated[UploadFile, File()],
) -> Response:
    try:
        result = imports.import_prompts(
            session, prompt_set_id=prompt_set_id, file=file.file, filename=file.filename
        )
    except AppError as exc:
        session.rollback()
        context = dashboard.dashboard_context(session, prompt_set_id)
        context["import_error"] = {"message": exc.message, "errors": exc.errors}
        return render(request, "prompt_sets/dashboard.html", context, status_code=exc.status)
    flash(
        request,
        f"Imported {result.imported} prompts ({result.candidates} candidates); "
        f"skipped {result.skipped_duplicates} duplicates.",
    )
    return _see_other(f"/admin/prompt-sets/{prompt_set_id}")


# --- prompts ----------------------------------------------------------------------------


def _prompt_row(prompt: Prompt) -> dict[str, Any]:
    # A chat prompt is previewed by its last (user) turn.
    last_turn = (prompt.messages or [{}])[-1].get("content", "")
    return {
        "id": prompt.id,
        "external_id": prompt.external_id,
        "preview": (prompt.text if prompt.text is not None else last_turn)[:160],
        "turns": len(prompt.messages) if prompt.messages else 1,
        "status": prompt.status,
        "candidates_ready": prompt.candidates_ready,
        "is_gold": prompt.is_gold,
    }


def prompts_context(session: Session, prompt_set_id: Id, page: int) -> dict:
    ps = prompt_set_service.load_prompt_set(session, prompt_set_id)
    total = prompt_set_service.prompt_count(session, prompt_set_id)
    rows = session.execute(
        select(Prompt)
        .where(Prompt.prompt_set_id == prompt_set_id)
        .order_by(Prompt.id)
        .offset((page - 1) * PROMPTS_PER_PAGE)
        .limit(PROMPTS_PER_PAGE)
    ).scalars()
    prompts = [_prompt_row(p) for p in rows]
    pages = max(1, -(-total // PROMPTS_PER_PAGE))
    return {"prompt_set": ps, "prompts": prompts, "page": page, "pages": pages, "total": total}


@router.get("/admin/prompt-sets/{prompt_set_id}/prompts", response_class=HTMLResponse)
def list_prompts(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdminUser, page: int = 1
) -> HTMLResponse:
    context = prompts_context(session, prompt_set_id, max(1, page))
    return render(request, "prompt_sets/prompts.html", context)


def prompt_context(session: Session, prompt_id: Id, errors: list | None = None) -> dict:
    prompt = prompt_set_service.load_prompt(session, prompt_id)
    candidates = session.scalars(
        select(Candidate).where(Candidate.prompt_id == prompt_id).order_by(Candidate.position)
    ).all()
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
            }
            for c in candidates
        ],
        "annotations": prompt_set_service.annotation_count(session, prompt_id),
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
    outcome = prompt_set_service.delete_or_archive_prompt(session, prompt_id=prompt_id)
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
async def set_gold(
    prompt_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> Response:
    form = await _form(request)
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


@router.get("/admin/prompt-sets/{prompt_set_id}/annotators", response_class=HTMLResponse)
def annotators(
    prompt_set_id: Id, request: Request, session: SessionDep, user: AdminUser
) -> HTMLResponse:
    context = {
        "prompt_set": prompt_set_service.load_prompt_set(session, prompt_set_id),
        "rows": annotator_stats.annotator_stats(session, prompt_set_id),
    }
    return render(request, "prompt_sets/annotators.html", context)
