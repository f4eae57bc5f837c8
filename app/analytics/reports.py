"""The reports the pages, the APIs and the dataset card ask for.

Each one reads its rows through app.analytics.loaders and computes with the pure modules
beside it; nothing here queries the database itself.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import Sequence
from typing import NotRequired, TypedDict

from sqlalchemy.orm import Session

from app.analytics import charts, intervals, loaders, signals, speed_baselines
from app.analytics.annotators import AnnotatorStats, annotator_rows, gold_tallies
from app.analytics.leaderboard import Leaderboard, leaderboard
from app.analytics.loaders import JobProgress, Progress
from app.analytics.set_stats import PromptSetStats
from app.analytics.set_stats import prompt_set_stats as summarize_prompt_set
from app.analytics.signals import AgreementCounts, AnnotatorSignals, flagged_annotators
from app.analytics.strength import ModelStanding, model_standings
from app.core.db import utcnow
from app.prompt_sets import service as prompt_set_service

RECENT_JOBS = 5
HOURS_CHARTED = 48


class ModelReport(TypedDict):
    models: int
    comparisons: int
    # When the 95% intervals were computed, and whether for the current win counts.
    intervals_as_of: NotRequired[dt.datetime | None]
    intervals_current: NotRequired[bool]
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
    wins = loaders.load_model_wins(session, prompt_set_id)
    fitted = intervals.strengths(session, prompt_set_id, wins)
    stats = summarize_prompt_set(
        {"id": prompt_set.id, "name": prompt_set.name},
        loaders.load_set_totals(session, prompt_set_id),
        loaders.load_rank_coincidences(session, prompt_set_id),
        model_standings(wins, fitted.strengths),
    )
    stats["intervals_as_of"] = fitted.as_of if wins else None
    return stats


def annotator_stats(session: Session, prompt_set_id: int | None = None) -> list[AnnotatorStats]:
    """One row per person who annotated or skipped (in one set, or everywhere).

    Agreement is leave-one-out majority agreement per pair (kept per prompt by
    app.annotation.tallies), summed over the person's prompts."""
    tallies = loaders.load_annotator_tallies(session, prompt_set_id)
    people = loaders.load_people(session, {t.annotator_id for t in tallies})
    gold = gold_tallies(loaders.load_gold_answers(session, prompt_set_id))
    return annotator_rows(tallies, gold, people)


def annotator_signals(
    session: Session, prompt_set_ids: Sequence[int] | None = None, *, fresh: bool = False
) -> dict[int, AnnotatorSignals]:
    """Bias and spam signals per annotator (app.analytics.signals), over these sets or
    everywhere: the signal tallies (one row per set and annotator), each set's stored speed
    baseline, the agreement tallies and the gold answers; nothing reads the annotations
    one by one (issue 22).

    A stale baseline (annotations arrived since it was computed) is recomputed in the
    background and the newest stored one is used meanwhile (`signals_as_of` says since
    when); with `fresh` (an export deciding whom to leave out) it is computed inline."""
    scopes: list[int | None] = [None] if prompt_set_ids is None else list(prompt_set_ids)
    agree: Counter[int] = Counter()
    total: Counter[int] = Counter()
    for scope in scopes:
        for tally in loaders.load_annotator_tallies(session, scope):
            agree[tally.annotator_id] += tally.agree
            total[tally.annotator_id] += tally.agree_total
    agreement = {a: AgreementCounts(agree[a], total[a]) for a in total}
    gold = gold_tallies(
        itertools.chain.from_iterable(loaders.load_gold_answers(session, s) for s in scopes)
    )
    baselines = _baselines(session, prompt_set_ids, fresh=fresh)
    tallied = signals.signals_from_tallies(
        loaders.load_signal_tallies(session, prompt_set_ids),
        loaders.load_signal_patterns(session, prompt_set_ids),
        baselines,
    )
    return signals.with_agreement(tallied, agreement, gold)


def _baselines(
    session: Session, prompt_set_ids: Sequence[int] | None, *, fresh: bool
) -> dict[int, speed_baselines.Baseline]:
    current = speed_baselines.current_timed(session, prompt_set_ids)
    stored = speed_baselines.load(session, prompt_set_ids)
    stale = speed_baselines.stale_sets(current, stored)
    if fresh:
        stored |= {s: speed_baselines.computed(session, s) for s in stale}
    elif stale:
        speed_baselines.refresh_in_background(session, stale)
    return stored


def signals_as_of(
    session: Session, prompt_set_ids: Sequence[int] | None = None
) -> speed_baselines.BaselineStatus:
    """When the speed baselines the signals use were computed, and whether they are current
    (the pages say "as of ..." when not)."""
    return speed_baselines.status(
        speed_baselines.current_timed(session, prompt_set_ids),
        speed_baselines.load(session, prompt_set_ids),
    )


def flagged_annotator_ids(session: Session, prompt_set_ids: Sequence[int]) -> list[int]:
    """Annotators any signal flags on these sets (the exports' exclude_flagged_annotators),
    with current speed baselines: an export must not depend on when a page was viewed."""
    return flagged_annotators(annotator_signals(session, prompt_set_ids, fresh=True))


def model_report(session: Session, prompt_set_id: int) -> ModelReport:
    """Win rates and Bradley–Terry strengths, with charts, when candidates came from
    several models."""
    wins = loaders.load_model_wins(session, prompt_set_id)
    fitted = intervals.strengths(session, prompt_set_id, wins)
    standings = model_standings(wins, fitted.strengths)
    if len(standings) < 2:
        return {"models": len(standings), "win_rates": None, "strengths": None, "comparisons": 0}
    return {
        "models": len(standings),
        "comparisons": sum(wins.values()),
        "intervals_as_of": fitted.as_of,
        "intervals_current": fitted.current,
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
    counts = loaders.load_hourly_counts(session, prompt_set_id, since)
    return charts.bar_chart(charts.hourly_series(counts, now, hours))


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def dashboard_numbers(session: Session, prompt_set_id: int, k: int) -> DashboardNumbers:
    """Everything a prompt set's dashboard shows; k is its annotators per prompt."""
    return {
        "progress": loaders.load_progress(session, prompt_set_id, k),
        "jobs": loaders.load_recent_jobs(session, prompt_set_id, RECENT_JOBS),
        "per_hour": annotations_per_hour(session, prompt_set_id),
        "models": model_report(session, prompt_set_id),
        "agreement": _rate(*loaders.load_peer_agreement(session, prompt_set_id)),
    }


class LeaderboardReport(TypedDict):
    board: Leaderboard
    raw_chart: charts.StrengthChart | None
    styled_chart: charts.StrengthChart | None
    matrix_chart: charts.MatrixChart | None


def generator_leaderboard(
    session: Session, prompt_set_ids: list[int], *, bootstrap: int = 200
) -> LeaderboardReport:
    """The generator leaderboard of one set, or of several sets pooled by generator name."""
    board = leaderboard(loaders.load_duels(session, prompt_set_ids), bootstrap=bootstrap)
    rows = board["generators"]
    if len(rows) < 2:
        return {"board": board, "raw_chart": None, "styled_chart": None, "matrix_chart": None}
    return {
        "board": board,
        "raw_chart": charts.strength_chart(
            {r["generator"]: (r["strength"] or 0.0, r["ci_low"], r["ci_high"]) for r in rows}
        ),
        "styled_chart": charts.strength_chart(
            {
                r["generator"]: (
                    r["styled_strength"] or 0.0,
                    r["styled_ci_low"],
                    r["styled_ci_high"],
                )
                for r in rows
            }
        ),
        "matrix_chart": charts.win_matrix_chart(board["matrix_names"], board["win_matrix"]),
    }
