"""GET /api/v1/prompt-sets/{id}/prompts: page through prompts, optionally with candidates.

Paged by a keyset cursor (`after` = the last prompt id seen), so a long set pages in
constant time and a page is stable while generation adds candidates.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.deps import ResearcherUser
from app.core.db import SessionDep
from app.core.inputs import MAX_DB_INT, Id
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Candidate, Prompt

router = APIRouter(prefix="/api/v1", tags=["prompt sets"])
MAX_PAGE = 500


def prompt_page(
    session: Session, *, prompt_set_id: Id, after: int, limit: int, with_candidates: bool
) -> dict[str, Any]:
    prompt_set_service.load_prompt_set(session, prompt_set_id)
    where = Prompt.prompt_set_id == prompt_set_id
    total = session.scalar(select(func.count()).where(where)) or 0
    prompts = list(
        session.scalars(
            select(Prompt).where(where, Prompt.id > after).order_by(Prompt.id).limit(limit)
        )
    )
    candidates: dict[int, list[dict[str, Any]]] = {}
    if with_candidates and prompts:
        rows = session.scalars(
            select(Candidate)
            .where(Candidate.prompt_id.in_([p.id for p in prompts]))
            .order_by(Candidate.prompt_id, Candidate.position)
        )
        for c in rows:
            candidates.setdefault(c.prompt_id, []).append(_candidate(c))
    items = [_prompt(p, candidates.get(p.id, []) if with_candidates else None) for p in prompts]
    next_after = prompts[-1].id if len(prompts) == limit else None
    return {"items": items, "total": total, "limit": limit, "next_after": next_after}


def _prompt(p: Prompt, candidates: list[dict[str, Any]] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": p.id,
        "external_id": p.external_id,
        "text": p.text,
        "messages": p.messages,
        "metadata": p.meta,
        "status": p.status,
        "candidates_ready": p.candidates_ready,
        "is_gold": p.is_gold,
        "created_at": p.created_at.isoformat(),
    }
    if candidates is not None:
        out["candidates"] = candidates
    return out


def _candidate(c: Candidate) -> dict[str, Any]:
    return {
        "id": c.id,
        "position": c.position,
        "text": c.text,
        "model": c.model,
        "generator": c.generator,
        # A pipeline's intermediate steps: for researchers, never in the annotator API.
        "transcript": c.transcript,
        "source": c.source,
        "sampling": c.sampling,
        "seed": c.seed,
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "latency_ms": c.latency_ms,
        "is_duplicate": c.is_duplicate,
        "created_at": c.created_at.isoformat(),
    }


@router.get("/prompt-sets/{prompt_set_id}/prompts")
def list_prompts(
    prompt_set_id: Id,
    session: SessionDep,
    user: ResearcherUser,
    include: Literal["candidates"] | None = Query(default=None, description="add candidates"),
    after: int = Query(
        default=0,
        ge=0,
        le=MAX_DB_INT,
        description="cursor: the last prompt id of the previous page",
    ),
    limit: int = Query(default=50, ge=1, le=MAX_PAGE),
) -> dict[str, Any]:
    return prompt_page(
        session,
        prompt_set_id=prompt_set_id,
        after=after,
        limit=limit,
        with_candidates=include == "candidates",
    )
