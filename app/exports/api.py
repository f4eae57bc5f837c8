"""Export and stats endpoints (researchers and admins; bearer token or session cookie)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from app.accounts.deps import ResearcherUser
from app.analytics.reports import prompt_set_stats
from app.analytics.set_stats import PromptSetStats
from app.core import request_context
from app.core.audit import ActorRef
from app.core.db import SessionDep
from app.core.inputs import Id
from app.core.metrics import EXPORT_ROWS
from app.exports import audit_trail, service
from app.exports.schemas import ExportQuery
from app.exports.writers import MEDIA_TYPES
from app.judges.quality import JudgeQuality, judge_quality

router = APIRouter(prefix="/api/v1", tags=["exports"])


class PromptSetStatsWithJudges(PromptSetStats):
    # Per judge version (issue 13); the people's figures above never count judges.
    judges: list[JudgeQuality]


@router.get("/exports/{format}", response_class=StreamingResponse)
def export_dataset(
    format: str,
    query: Annotated[ExportQuery, Query()],
    request: Request,
    session: SessionDep,
    user: ResearcherUser,
) -> StreamingResponse:
    """Stream a preference dataset: pairs, conversational, rankings, unpaired or consensus.

    Rows are read with a server-side cursor and sent as they are encoded, so memory stays
    flat however large the export. `bundle=true` returns a zip with train/test files and a
    README.md dataset card.
    """
    settings = request.app.state.settings
    plan = service.plan_export(
        session,
        format,
        query,
        secret_key=settings.resolved_secret_key(),
        default_model=settings.default_model,
        tokenizer_dir=settings.tokenizer_dir,
    )
    # Plain values: the rollback below expires the ORM user.
    actor = ActorRef(user.id, user.username)
    # End the request's transaction now: its session only closes after the body is sent,
    # and on SQLite an open transaction holds the write lock for the whole download.
    session.rollback()
    media = MEDIA_TYPES["zip" if plan.options.bundle else plan.options.file_type]
    # A sync generator: Starlette iterates it in its threadpool, so the blocking database
    # reads never stall the event loop. It opens its own session, and writes the audit
    # row once the last row is sent (the count is known only then).
    rows = EXPORT_ROWS.labels(plan.options.format)
    chunks = audit_trail.audited_chunks(
        request.app.state.sessionmaker,
        plan,
        actor=actor,
        request=request_context.current(),
        on_rows=rows.inc,
    )
    return StreamingResponse(
        chunks,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{plan.filename}"'},
    )


@router.get("/prompt-sets/{prompt_set_id}/stats")
def prompt_set_statistics(
    prompt_set_id: Id, session: SessionDep, user: ResearcherUser
) -> PromptSetStatsWithJudges:
    """Annotations, comparisons, Krippendorff's alpha (ordinal), pairwise agreement, tie and
    flag rates, per-model win rates with Bradley–Terry strengths, and per LLM judge version
    its agreement with people, position-flip rate and length bias."""
    stats = prompt_set_stats(session, prompt_set_id=prompt_set_id)
    return {**stats, "judges": judge_quality(session, prompt_set_id)}
