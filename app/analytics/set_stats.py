"""The researcher's figures about one prompt set: counts, agreement, tie and flag rates,
and the model-strength table. Pure: app.analytics.reports feeds it the loaded tallies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import NotRequired

# pydantic (the stats API's response model) needs typing_extensions' TypedDict before 3.12.
from typing_extensions import TypedDict

from app.analytics.agreement import alpha_from_coincidences
from app.analytics.loaders import SetTotals
from app.analytics.strength import ModelStanding
from app.annotation.models import FLAG_KINDS


class PromptSetRef(TypedDict):
    id: int
    name: str


class PromptSetStats(TypedDict):
    prompt_set: PromptSetRef
    annotations: int
    comparisons: int
    prompts_annotated: int
    prompts_with_2plus_annotators: int
    annotators: int
    alpha_ordinal: float | None
    pairwise_agreement_rate: float | None
    tie_rate: float | None
    all_bad_rate: float | None
    flag_rates: dict[str, float | None]
    models: list[ModelStanding]
    # When the models' 95% intervals were computed (app.analytics.intervals); None: no models.
    intervals_as_of: NotRequired[dt.datetime | None]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def prompt_set_stats(
    prompt_set: PromptSetRef,
    totals: SetTotals,
    coincidences: Mapping[tuple[int, int, int], int],
    standings: Sequence[ModelStanding],
) -> PromptSetStats:
    """Krippendorff's alpha counts prompts with 2+ annotators; flag rates are shares of
    candidate judgements (one annotator, one candidate) flagged with each kind; the
    pairwise agreement rate is over every two annotators who judged the same pair."""
    return {
        "prompt_set": prompt_set,
        "annotations": totals.annotations,
        "comparisons": totals.comparisons,
        "prompts_annotated": totals.prompts_annotated,
        "prompts_with_2plus_annotators": totals.prompts_with_2plus,
        "annotators": totals.annotators,
        "alpha_ordinal": alpha_from_coincidences(coincidences),
        # Both counts are doubled in the tallies (each annotator of a pair counts it).
        "pairwise_agreement_rate": _rate(totals.peer_same, totals.peer_pairs),
        "tie_rate": _rate(totals.tie_votes, totals.votes),
        "all_bad_rate": _rate(totals.all_bad, totals.annotations),
        "flag_rates": {kind: _rate(totals.flags[kind], totals.judged) for kind in FLAG_KINDS},
        "models": list(standings),
    }
