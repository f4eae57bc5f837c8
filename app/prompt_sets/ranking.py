"""A ranking is an ordered list of tie groups over a prompt's candidates.

The one place that says what a valid ranking is and which comparisons it implies. Used by
the API, the browser page, the exports and the statistics alike. It sits with the prompts,
the lowest domain that knows candidates, because a set's gold rankings are checked by it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.errors import InvalidInput

Ranking = list[list[int]]
# More than a prompt's candidates can produce (MAX_CANDIDATES is 8) in any honest ranking.
MAX_LISTED_ERRORS = 20


class RankingInvalid(InvalidInput):
    code = "ranking_invalid"


@dataclass(frozen=True)
class DerivedComparison:
    chosen_id: int
    rejected_id: int
    margin: int  # distance between the tie groups; 1 = adjacent


def _label(candidate_id: int, labels: Mapping[int, str] | None) -> str:
    if labels and candidate_id in labels:
        return f"response {labels[candidate_id]}"
    return f"candidate {candidate_id}"


def validate_ranking(
    ranking: Any, candidate_ids: Sequence[int], labels: Mapping[int, str] | None = None
) -> Ranking:
    """Check that `ranking` ranks every candidate of the prompt exactly once.

    Collects every problem before raising, so the caller can show them all at once.
    `labels` maps candidate ids to the letters the annotator saw, for friendlier messages.
    """
    errors: list[dict[str, Any]] = []
    if not isinstance(ranking, list) or not ranking:
        raise RankingInvalid(
            "The ranking is empty: put every response in a rank.",
            errors=[{"field": "ranking", "message": "must be a non-empty list of groups"}],
        )
    known = set(candidate_ids)
    seen: set[int] = set()
    for position, group in enumerate(ranking, start=1):
        field = f"ranking[{position - 1}]"
        if not isinstance(group, list) or not group:
            errors.append({"field": field, "message": f"rank {position} is an empty group"})
            continue
        for candidate_id in group:
            if not isinstance(candidate_id, int) or isinstance(candidate_id, bool):
                errors.append(
                    {"field": field, "message": f"{candidate_id!r} is not a candidate id"}
                )
            elif candidate_id not in known:
                errors.append(
                    {
                        "field": field,
                        "message": f"candidate {candidate_id} is not a response to this prompt",
                    }
                )
            elif candidate_id in seen:
                errors.append(
                    {
                        "field": field,
                        "message": f"{_label(candidate_id, labels)} is ranked more than once",
                    }
                )
            else:
                seen.add(candidate_id)
    for candidate_id in candidate_ids:
        if candidate_id not in seen:
            errors.append(
                {"field": "ranking", "message": f"{_label(candidate_id, labels)} has no rank"}
            )
    if len(errors) > MAX_LISTED_ERRORS:
        # A tie group of 300,000 unknown ids must get a short answer, not one line per id.
        more = len(errors) - MAX_LISTED_ERRORS
        errors = [
            *errors[:MAX_LISTED_ERRORS],
            {"field": "ranking", "message": f"and {more} more problems"},
        ]
    if errors:
        summary = "; ".join(e["message"] for e in errors)
        raise RankingInvalid(f"Rank every response exactly once: {summary}.", errors=errors)
    return [list(group) for group in ranking]


def derive_comparisons(ranking: Ranking) -> list[DerivedComparison]:
    """Every ordered pair whose members sit in different tie groups, better one first."""
    out = []
    for i, better in enumerate(ranking):
        for j in range(i + 1, len(ranking)):
            for chosen in better:
                for rejected in ranking[j]:
                    out.append(DerivedComparison(chosen, rejected, j - i))
    return out


def tied_pairs(ranking: Ranking) -> list[tuple[int, int]]:
    """Pairs (smaller id first) that the annotator placed in the same group."""
    pairs = []
    for group in ranking:
        ordered = sorted(group)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                pairs.append((a, b))
    return pairs


def rank_of(ranking: Ranking) -> dict[int, int]:
    """Candidate id -> 1-based rank of its group (tied candidates share a rank)."""
    return {cid: position for position, group in enumerate(ranking, start=1) for cid in group}


def gold_scores(ranking: Ranking, gold: Ranking) -> tuple[int, int, bool]:
    """(gold pair orders matched, gold pair orders, top pick is a gold best).

    Only the gold ranking's strict orders count: where gold ties candidates (as a known
    best candidate ties all the others), any order is accepted."""
    ranks = rank_of(ranking)
    pairs = derive_comparisons(gold)
    matched = sum(
        1
        for p in pairs
        if p.chosen_id in ranks
        and p.rejected_id in ranks
        and ranks[p.chosen_id] < ranks[p.rejected_id]
    )
    top = bool(ranking) and bool(set(ranking[0]) & set(gold[0]))
    return matched, len(pairs), top


def gold_agrees(ranking: Ranking, gold: Ranking) -> bool:
    """One gold item "agreed": the answer keeps every strict order of the gold ranking.

    The per-item rule of qualification rounds and rolling gold accuracy
    (app.annotation.standing); where gold ties candidates any order is accepted, so a
    known best candidate agrees exactly when the annotator put it alone on top."""
    matched, pairs, _ = gold_scores(ranking, gold)
    return matched == pairs
