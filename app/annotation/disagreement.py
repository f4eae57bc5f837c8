"""When a prompt's rankings disagree enough to ask more annotators (issue 13).

The rule, one place for it: a prompt's human rankings are *contested* when

- their mean pairwise Kendall tau-b is below the set's `escalate_below_tau`, or
- the set's `escalate_on_split_top` is on and the top choice is split: no candidate is in
  the first tie group of more than half of the rankings.

Fewer than two rankings are never contested. Kendall tau-b between two rankings compares
the rank each gives every candidate, ties included (tau-b corrects for them). It is
counted here rather than by `scipy.stats.kendalltau` (the tests check both agree): scipy's
call costs about 0.65 ms against 0.01 ms for this loop over at most 8 candidates, and
every submit measures its prompt. It is
undefined when a ranking ties every candidate; such a pair counts 1.0 when both rankings
tie everything (they say the same) and 0.0 otherwise (no association either way).

Pure functions: the submit path (app.annotation.tallies stores each prompt's measure on
its row, app.annotation.escalation decides on it) and the tests call these; the
adjudication queue filters on the stored measure.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from app.prompt_sets.ranking import Ranking, rank_of


@dataclass(frozen=True)
class EscalationRule:
    """A prompt set's escalation settings, as the submit path reads them."""

    below_tau: float
    on_split_top: bool


@dataclass(frozen=True)
class Disagreement:
    rankings: int
    # Mean Kendall tau-b over every two rankings; None with fewer than two.
    mean_tau: float | None
    top_split: bool

    def contested(self, rule: EscalationRule) -> bool:
        if self.mean_tau is None:
            return False
        return self.mean_tau < rule.below_tau or (rule.on_split_top and self.top_split)


def outcome(ranks: Mapping[int, int], a: int, b: int) -> int:
    """+1 when a is ranked better than b, -1 when worse, 0 when tied."""
    diff = ranks[b] - ranks[a]
    return (diff > 0) - (diff < 0)


def kendall_tau_b(x: Mapping[int, int], y: Mapping[int, int]) -> float:
    """Kendall tau-b of two {candidate id: rank} maps over the candidates both rank."""
    common = sorted(set(x) & set(y))
    concordant = discordant = tied_x = tied_y = 0
    for a, b in combinations(common, 2):
        sx, sy = outcome(x, a, b), outcome(y, a, b)
        tied_x += sx == 0
        tied_y += sy == 0
        product = sx * sy
        concordant += product > 0
        discordant += product < 0
    pairs = len(common) * (len(common) - 1) // 2
    denominator = math.sqrt((pairs - tied_x) * (pairs - tied_y))
    if denominator == 0:
        return 1.0 if tied_x == tied_y == pairs else 0.0
    return (concordant - discordant) / denominator


def top_choice_split(rankings: Sequence[Ranking]) -> bool:
    """True when no candidate is in the first tie group of more than half the rankings."""
    if len(rankings) < 2:
        return False
    firsts = Counter(cid for ranking in rankings if ranking for cid in ranking[0])
    return not firsts or max(firsts.values()) * 2 <= len(rankings)


def measure(rankings: Sequence[Ranking]) -> Disagreement:
    ranks = [rank_of(r) for r in rankings]
    taus = [kendall_tau_b(x, y) for x, y in combinations(ranks, 2)]
    mean = sum(taus) / len(taus) if taus else None
    return Disagreement(len(rankings), mean, top_choice_split(rankings))
