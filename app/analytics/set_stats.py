"""The researcher's figures about one prompt set: counts, agreement, tie and flag rates,
and the model-strength table. Pure: app.analytics.reports feeds it the loaded rows."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

# pydantic (the stats API's response model) needs typing_extensions' TypedDict before 3.12.
from typing_extensions import TypedDict

from app.analytics.agreement import alpha_ordinal, pairwise_agreement_rate
from app.analytics.loaders import AnnotationRow
from app.analytics.strength import ModelStanding
from app.analytics.votes import Vote
from app.annotation.models import FLAG_KINDS
from app.prompt_sets.ranking import rank_of


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


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def prompt_set_stats(
    prompt_set: PromptSetRef,
    rows: Sequence[AnnotationRow],
    votes: Sequence[Vote],
    comparisons: int,
    standings: Sequence[ModelStanding],
) -> PromptSetStats:
    """Krippendorff's alpha counts prompts with 2+ annotators; flag rates are shares of
    candidate judgements (one annotator, one candidate) flagged with each kind."""
    rank_tables: dict[int, dict[int, dict[int, int]]] = defaultdict(dict)
    flag_counts: Counter[str] = Counter()
    judged = all_bad = 0
    for row in rows:
        ranks = rank_of(row.ranking)
        rank_tables[row.prompt_id][row.annotator_id] = ranks
        judged += len(ranks)
        all_bad += bool(row.all_bad)
        for kinds in (row.flags or {}).values():
            flag_counts.update(set(kinds))
    ties = sum(1 for v in votes if v.outcome == 0)
    return {
        "prompt_set": prompt_set,
        "annotations": len(rows),
        "comparisons": comparisons,
        "prompts_annotated": len(rank_tables),
        "prompts_with_2plus_annotators": sum(1 for t in rank_tables.values() if len(t) >= 2),
        "annotators": len({a for t in rank_tables.values() for a in t}),
        "alpha_ordinal": alpha_ordinal(rank_tables),
        "pairwise_agreement_rate": pairwise_agreement_rate(votes),
        "tie_rate": _rate(ties, len(votes)),
        "all_bad_rate": _rate(all_bad, len(rows)),
        "flag_rates": {kind: _rate(flag_counts[kind], judged) for kind in FLAG_KINDS},
        "models": list(standings),
    }
