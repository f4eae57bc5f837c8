"""The numbers on a prompt set's dashboard, gathered with a few aggregate queries."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.analytics.agreement import pairwise_agreement_rate
from app.analytics.strength import bradley_terry, load_model_pairs, win_rates
from app.analytics.votes import load_votes
from app.annotation.models import Annotation
from app.core.db import utcnow
from app.generation.models import GenerationJob
from app.prompt_sets import charts
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Candidate, Prompt

RECENT_JOBS = 5


@dataclass
class Progress:
    prompts: int
    archived_prompts: int
    gold_prompts: int
    prompts_ready: int
    candidates: int
    candidates_generated: int
    annotations: int
    annotations_needed: int
    items_complete: int

    @property
    def annotation_share(self) -> float:
        return self.annotations / self.annotations_needed if self.annotations_needed else 0.0


def _count(session: Session, query: Any) -> int:
    return session.scalar(query) or 0


def progress(session: Session, prompt_set_id: int, k: int) -> Progress:
    in_set = Prompt.prompt_set_id == prompt_set_id
    active = (in_set, Prompt.status == "active")
    count = select(func.count()).select_from(Prompt)
    candidates = select(func.count()).select_from(Candidate).join(Prompt).where(*active)
    annotations = select(func.count()).select_from(Annotation).join(Prompt).where(*active)
    per_prompt = (
        select(Annotation.prompt_id)
        .join(Prompt)
        .where(*active)
        .group_by(Annotation.prompt_id)
        .having(func.count() >= k)
        .subquery()
    )
    prompts = _count(session, count.where(*active))
    return Progress(
        prompts=prompts,
        archived_prompts=_count(session, count.where(in_set, Prompt.status == "archived")),
        gold_prompts=_count(session, count.where(*active, Prompt.is_gold.is_(True))),
        prompts_ready=_count(session, count.where(*active, Prompt.candidates_ready.is_(True))),
        candidates=_count(session, candidates),
        candidates_generated=_count(session, candidates.where(Candidate.source == "generated")),
        annotations=_count(session, annotations),
        annotations_needed=k * prompts,
        items_complete=_count(session, select(func.count()).select_from(per_prompt)),
    )


def generation_jobs(session: Session, prompt_set_id: int) -> list[dict[str, Any]]:
    jobs = session.scalars(
        select(GenerationJob)
        .where(GenerationJob.prompt_set_id == prompt_set_id)
        .order_by(GenerationJob.created_at.desc(), GenerationJob.id.desc())
        .limit(RECENT_JOBS)
    )
    return [
        {
            "id": j.id,
            "status": j.status,
            "done": j.done,
            "failed": j.failed,
            "total": j.total,
            "share": (j.done + j.failed) / j.total if j.total else 0.0,
            "tokens_per_second": j.tokens_per_second,
            "created_at": j.created_at,
        }
        for j in jobs
    ]


def annotations_per_hour(session: Session, prompt_set_id: int, hours: int = 48) -> dict:
    since = utcnow().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=hours)
    times = session.scalars(
        select(Annotation.created_at)
        .join(Prompt)
        .where(Prompt.prompt_set_id == prompt_set_id, Annotation.created_at >= since)
    )
    return charts.bar_chart(charts.hourly_counts(times, utcnow(), hours))


def model_strengths(session: Session, prompt_set_id: int) -> dict[str, Any]:
    """Win rates and Bradley–Terry strengths, when candidates came from several models."""
    pairs = load_model_pairs(session, prompt_set_id)
    rates = win_rates(pairs)
    if len(rates) < 2:
        return {"models": len(rates), "win_rates": None, "strengths": None, "comparisons": 0}
    strengths = bradley_terry(pairs)
    return {
        "models": len(rates),
        "comparisons": len(pairs),
        "table": [
            {
                "model": m,
                "wins": r.wins,
                "losses": r.losses,
                "rate": r.rate,
                **asdict(strengths[m]),
            }
            for m, r in sorted(rates.items(), key=lambda kv: -(strengths[kv[0]].strength))
        ],
        "win_rates": charts.win_rate_chart(
            {m: (r.wins, r.losses, r.rate) for m, r in rates.items()}
        ),
        "strengths": charts.strength_chart(
            {m: (s.strength, s.ci_low, s.ci_high) for m, s in strengths.items()}
        ),
    }


def dashboard_context(session: Session, prompt_set_id: int) -> dict[str, Any]:
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    return {
        "prompt_set": prompt_set,
        "progress": progress(session, prompt_set_id, prompt_set.annotators_per_prompt),
        "jobs": generation_jobs(session, prompt_set_id),
        "per_hour": annotations_per_hour(session, prompt_set_id),
        "models": model_strengths(session, prompt_set_id),
        "agreement": pairwise_agreement_rate(load_votes(session, prompt_set_id)),
        "import_error": None,
    }
