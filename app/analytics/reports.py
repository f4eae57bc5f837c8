"""The reports the pages, the APIs and the dataset card ask for.

Each one reads its rows through app.analytics.loaders and computes with the pure modules
beside it; nothing here queries the database itself.
"""

from __future__ import annotations

import datetime as dt
from typing import NotRequired, TypedDict

from sqlalchemy.orm import Session

from app.analytics import charts, loaders
from app.analytics.agreement import annotator_agreement, pairwise_agreement_rate
from app.analytics.annotators import AnnotatorStats, annotator_rows, gold_tallies, summed_agreement
from app.analytics.loaders import JobProgress, Progress
from app.analytics.set_stats import PromptSetStats
from app.analytics.set_stats import prompt_set_stats as summarize_prompt_set
from app.analytics.strength import ModelStanding, model_standings
from app.core.db import utcnow
from app.prompt_sets import service as prompt_set_service

RECENT_JOBS = 5
HOURS_CHARTED = 48


class ModelReport(TypedDict):
    models: int
    comparisons: int
    table: NotRequired[list[ModelStanding]]
    win_rates: charts.WinRateChart | None
    strengths: charts.StrengthChart | None


class DashboardNumbers(TypedDict):
    progress: Progress
    jobs: list[JobProgress]
    per_hour: charts.BarChart
    models: ModelReport
    agreement: float | None


def prompt_set_stats(session: Session, *, prompt_set_id: int) -> PromptSetStats:
    """Counts, agreement (Krippendorff's alpha over prompts with 2+ annotators, pairwise
    agreement), tie and flag rates, and per-model win rates and Bradley–Terry strengths."""
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    return summarize_prompt_set(
        {"id": prompt_set.id, "name": prompt_set.name},
        loaders.load_annotation_rows(session, prompt_set_id),
        loaders.load_votes(session, prompt_set_id),
        loaders.count_comparisons(session, prompt_set_id),
        model_standings(loaders.load_model_pairs(session, prompt_set_id)),
    )


def annotator_stats(session: Session, prompt_set_id: int | None = None) -> list[AnnotatorStats]:
    """One row per person who annotated or skipped (in one set, or everywhere).

    Agreement is leave-one-out majority agreement per set (pairs never span sets), summed
    over the sets."""
    set_ids = [prompt_set_id] if prompt_set_id is not None else loaders.load_prompt_set_ids(session)
    agreement = summed_agreement(
        annotator_agreement(loaders.load_votes(session, set_id)) for set_id in set_ids
    )
    work = loaders.load_work(session, prompt_set_id)
    skips = loaders.load_skip_counts(session, prompt_set_id)
    people = loaders.load_people(session, {row.annotator_id for row in work} | set(skips))
    gold = gold_tallies(loaders.load_gold_answers(session, prompt_set_id))
    return annotator_rows(work, skips, agreement, gold, people)


def model_report(session: Session, prompt_set_id: int) -> ModelReport:
    """Win rates and Bradley–Terry strengths, with charts, when candidates came from
    several models."""
    pairs = loaders.load_model_pairs(session, prompt_set_id)
    standings = model_standings(pairs)
    if len(standings) < 2:
        return {"models": len(standings), "win_rates": None, "strengths": None, "comparisons": 0}
    return {
        "models": len(standings),
        "comparisons": len(pairs),
        "table": standings,
        "win_rates": charts.win_rate_chart(
            {s["model"]: (s["wins"], s["losses"], s["win_rate"]) for s in standings}
        ),
        "strengths": charts.strength_chart(
            {s["model"]: (s["strength"], s["ci_low"], s["ci_high"]) for s in standings}
        ),
    }


def annotations_per_hour(
    session: Session, prompt_set_id: int, hours: int = HOURS_CHARTED
) -> charts.BarChart:
    now = utcnow()
    since = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=hours)
    times = loaders.load_annotation_times(session, prompt_set_id, since)
    return charts.bar_chart(charts.hourly_counts(times, now, hours))


def dashboard_numbers(session: Session, prompt_set_id: int, k: int) -> DashboardNumbers:
    """Everything a prompt set's dashboard shows; k is its annotators per prompt."""
    return {
        "progress": loaders.load_progress(session, prompt_set_id, k),
        "jobs": loaders.load_recent_jobs(session, prompt_set_id, RECENT_JOBS),
        "per_hour": annotations_per_hour(session, prompt_set_id),
        "models": model_report(session, prompt_set_id),
        "agreement": pairwise_agreement_rate(loaders.load_votes(session, prompt_set_id)),
    }
