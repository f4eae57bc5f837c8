"""The research page: build an export with a form, preview its first rows, see the stats."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.deps import ResearcherUser
from app.analytics.reports import prompt_set_stats
from app.annotation.models import FLAG_KINDS
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.templating import render
from app.exports import service
from app.exports.schemas import FORMATS, raw_options
from app.prompt_sets.models import PromptSet

router = APIRouter(tags=["pages"])
PREVIEW_ROWS = 5
CONSENSUS_METHOD_LABELS = (
    ("majority", "majority of votes"),
    ("reliability", "weighted by annotator reliability"),
)


def research_home_context(
    session: Session,
    raw: dict[str, Any],
    *,
    secret_key: str,
    default_model: str,
    tokenizer_dir: Path | None = None,
) -> dict[str, Any]:
    sets = session.scalars(select(PromptSet).order_by(PromptSet.name)).all()
    ctx: dict[str, Any] = {
        "prompt_sets": [{"id": s.id, "name": s.name, "status": s.status} for s in sets],
        "formats": FORMATS,
        "flag_kinds": FLAG_KINDS,
        "consensus_methods": CONSENSUS_METHOD_LABELS,
        "form": raw,
        "selected_sets": [str(v) for v in raw.get("prompt_set") or []],
        "error": None,
        "errors": [],
        "preview": None,
        "stats": [],
    }
    if not ctx["selected_sets"]:
        return ctx
    try:
        plan = service.parse_options(
            session,
            raw,
            secret_key=secret_key,
            default_model=default_model,
            tokenizer_dir=tokenizer_dir,
        )
        rows, count = service.preview(session, plan, PREVIEW_ROWS)
    except AppError as exc:
        ctx.update(error=exc.message, errors=exc.errors, status=exc.status)
        return ctx
    query = {"prompt_set": raw["prompt_set"]} | {
        k: v for k, v in raw.items() if v not in (None, "", []) and k != "format"
    }
    ctx["preview"] = {
        "rows": rows,
        "total": count.rows,
        "total_exact": count.exact,
        "columns": list(rows[0]) if rows else [],
        "download_url": f"/api/v1/exports/{plan.options.format}?{urlencode(query, doseq=True)}",
        "filename": plan.filename,
    }
    ctx["stats"] = [prompt_set_stats(session, prompt_set_id=i) for i in plan.options.prompt_set_ids]
    return ctx


@router.get("/research", response_class=HTMLResponse)
def research_home(request: Request, session: SessionDep, user: ResearcherUser) -> HTMLResponse:
    settings = request.app.state.settings
    raw = raw_options(request.query_params)
    raw.setdefault("format", "pairs")
    raw["format"] = raw.get("format") or "pairs"
    ctx = research_home_context(
        session,
        raw,
        secret_key=settings.resolved_secret_key(),
        default_model=settings.default_model,
        tokenizer_dir=settings.tokenizer_dir,
    )
    return render(request, "exports/research_home.html", ctx, status_code=ctx.get("status", 200))
