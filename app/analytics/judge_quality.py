"""How an LLM judge's rankings compare with people's (issue 13): agreement with the human
majority, position consistency and length bias. Pure: app.judges.quality loads the rows.

Every figure is a share with its counts (`Share`), so a rate over three pairs reads as
what it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from typing_extensions import TypedDict

from app.analytics.votes import votes_from_ranking
from app.annotation.tallies import plurality
from app.prompt_sets.ranking import Ranking, derive_comparisons

# (prompt id, chosen candidate, rejected candidate) -> how many people chose so.
HumanWins = Mapping[tuple[int, int, int], int]


class Share(TypedDict):
    count: int
    total: int
    rate: float | None


def share(count: int, total: int) -> Share:
    return {"count": count, "total": total, "rate": count / total if total else None}


@dataclass(frozen=True)
class HumanVotes:
    """People's verdicts on a set's judged prompts: ordered-pair wins and, per prompt, how
    many annotations there are (a pair's ties are the prompt's annotations that chose
    neither side: every ranking ranks every candidate)."""

    wins: HumanWins
    annotations: Mapping[int, int]


def agreement_with_humans(
    judge_rankings: Mapping[int, Ranking], humans: HumanVotes
) -> tuple[Share, int]:
    """Over prompts ranked by the judge and by at least one person: the share of candidate
    pairs where the judge's outcome (better, worse or tied) is the people's majority one.
    Pairs where the people have no majority don't count. Returns (share, prompts)."""
    agree = total = prompts = 0
    for prompt_id, ranking in judge_rankings.items():
        n = humans.annotations.get(prompt_id, 0)
        if not n:
            continue
        prompts += 1
        for vote in votes_from_ranking(prompt_id, 0, ranking):
            a_wins = humans.wins.get((prompt_id, vote.a, vote.b), 0)
            b_wins = humans.wins.get((prompt_id, vote.b, vote.a), 0)
            ties = max(n - a_wins - b_wins, 0)
            majority = plurality({1: a_wins, -1: b_wins, 0: ties})
            if majority is None:
                continue
            total += 1
            agree += vote.outcome == majority
    return share(agree, total), prompts


def _longer_wins(pairs: Iterable[tuple[int, int, int]], lengths: Mapping[int, int]) -> Share:
    """(chosen, rejected, weight) -> share of the weight where the chosen answer is the
    longer one, over pairs whose two answers differ in length."""
    longer = total = 0
    for chosen, rejected, weight in pairs:
        a, b = lengths.get(chosen), lengths.get(rejected)
        if a is None or b is None or a == b:
            continue
        total += weight
        longer += weight if a > b else 0
    return share(longer, total)


def judge_length_bias(rankings: Iterable[Ranking], lengths: Mapping[int, int]) -> Share:
    """How often the judge ranks the longer of two answers of different length better
    (ties left out: nobody won)."""
    return _longer_wins(
        ((c.chosen_id, c.rejected_id, 1) for r in rankings for c in derive_comparisons(r)),
        lengths,
    )


def human_length_bias(
    humans: HumanVotes, prompt_ids: Iterable[int], lengths: Mapping[int, int]
) -> Share:
    """The same share over people's comparisons (one per person and pair) on `prompt_ids`."""
    wanted = set(prompt_ids)
    return _longer_wins(((c, r, n) for (p, c, r), n in humans.wins.items() if p in wanted), lengths)


def flip_rate(flips: int | None, pairs: int | None) -> Share | None:
    """Pairwise judges: pairs whose verdict changed when the presentation order flipped,
    of the pairs judged in both orders. None when nothing was judged pairwise."""
    if not pairs:
        return None
    return share(flips or 0, pairs)
