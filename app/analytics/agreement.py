"""How much annotators agree: per pair, per annotator, overall, and Krippendorff's alpha."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from app.analytics.votes import Vote
from app.annotation.tallies import plurality
from app.prompt_sets.ranking import Ranking, rank_of

PairKey = tuple[int, int, int]  # (prompt_id, a, b) with a < b


@dataclass(frozen=True)
class PairTally:
    a_wins: int
    b_wins: int
    ties: int
    n: int
    # +1 (a), -1 (b) or 0 (tie) when one outcome has strictly the most votes; None otherwise.
    majority: int | None
    # Share of votes for the most common outcome.
    agreement: float


@dataclass(frozen=True)
class AgreementScore:
    agree: int
    total: int

    @property
    def rate(self) -> float | None:
        return self.agree / self.total if self.total else None


def _by_pair(votes: Iterable[Vote]) -> dict[PairKey, list[Vote]]:
    grouped: dict[PairKey, list[Vote]] = defaultdict(list)
    for vote in votes:
        grouped[vote.pair].append(vote)
    return grouped


def pair_consensus(votes: Iterable[Vote]) -> dict[PairKey, PairTally]:
    out: dict[PairKey, PairTally] = {}
    for key, pair_votes in _by_pair(votes).items():
        counts = Counter(v.outcome for v in pair_votes)
        n = len(pair_votes)
        out[key] = PairTally(
            a_wins=counts[1],
            b_wins=counts[-1],
            ties=counts[0],
            n=n,
            majority=plurality(counts),
            agreement=max(counts.values()) / n,
        )
    return out


def pair_agreements(rankings: Iterable[Ranking]) -> dict[tuple[int, int], float]:
    """The rankings of one prompt -> {(a, b) with a < b: agreement}, the same share as
    `pair_consensus(...)[(prompt, a, b)].agreement`, without building a Vote per pair
    (this runs once per prompt of every pairs export)."""
    counts: dict[tuple[int, int], list[int]] = {}
    for ranking in rankings:
        ranks = rank_of(ranking)
        ids = sorted(ranks)
        for i, a in enumerate(ids):
            rank_a = ranks[a]
            for b in ids[i + 1 :]:
                diff = ranks[b] - rank_a
                tally = counts.get((a, b))
                if tally is None:
                    counts[(a, b)] = tally = [0, 0, 0]
                tally[(diff > 0) - (diff < 0) + 1] += 1
    return {key: max(tally) / (tally[0] + tally[1] + tally[2]) for key, tally in counts.items()}


def leave_one_out_votes(
    pairs: Iterable[tuple[int, int, int, int]],
    rankings: Mapping[int, Sequence[tuple[int, Mapping[int, int]]]],
) -> list[float | None]:
    """Per (prompt, annotator, chosen, rejected): the mean vote of the prompt's *other*
    annotators who ranked both (1 chosen above, 0.5 tied, 0 below), or None when there
    is no other. `rankings`: prompt id -> [(annotator id, {candidate id: rank})]."""
    out: list[float | None] = []
    for prompt_id, annotator, chosen, rejected in pairs:
        votes = [
            1.0
            if ranks[chosen] < ranks[rejected]
            else 0.5
            if ranks[chosen] == ranks[rejected]
            else 0.0
            for who, ranks in rankings.get(prompt_id, [])
            if who != annotator and chosen in ranks and rejected in ranks
        ]
        out.append(sum(votes) / len(votes) if votes else None)
    return out


def leave_one_out_agreement(
    pairs: Iterable[tuple[int, int, int, int]],
    rankings: Mapping[int, Sequence[tuple[int, Mapping[int, int]]]],
) -> tuple[float | None, int]:
    """Inter-annotator agreement of ordered pairs: for each (prompt, annotator, chosen,
    rejected), the share of the prompt's *other* annotators who rank chosen above rejected
    (a tie counts half), averaged over the pairs that have another annotator. With a
    share q of annotators on one side it is about q^2 + (1-q)^2; it is *not* a ceiling
    for a model (predicting the others' majority reaches about max(q, 1-q); see
    app.reward.evaluation.human_reference, issue 20).

    Returns (mean, pairs counted); the mean is None when no pair has another annotator."""
    values = [v for v in leave_one_out_votes(pairs, rankings) if v is not None]
    return (float(np.mean(values)) if values else None), len(values)


def annotator_agreement(votes: Iterable[Vote]) -> dict[int, AgreementScore]:
    """Per annotator: share of their votes that match the majority of the *other* annotators
    of the same pair (leave-one-out, so nobody agrees with themselves). Pairs where the
    others have no majority don't count."""
    agree: Counter[int] = Counter()
    total: Counter[int] = Counter()
    for pair_votes in _by_pair(votes).values():
        if len(pair_votes) < 2:
            continue
        counts = Counter(v.outcome for v in pair_votes)
        for vote in pair_votes:
            others = counts.copy()
            others[vote.outcome] -= 1
            majority = plurality(others)
            if majority is None:
                continue
            total[vote.annotator_id] += 1
            agree[vote.annotator_id] += vote.outcome == majority
    return {annotator: AgreementScore(agree[annotator], total[annotator]) for annotator in total}


def pairwise_agreement_rate(votes: Iterable[Vote]) -> float | None:
    """Over every two annotators who judged the same pair: how often they gave the same
    outcome (ties included as an outcome). None when no pair has two annotators."""
    same = pairs = 0
    for pair_votes in _by_pair(votes).values():
        counts = Counter(v.outcome for v in pair_votes)
        n = len(pair_votes)
        pairs += n * (n - 1) // 2
        same += sum(c * (c - 1) // 2 for c in counts.values())
    return same / pairs if pairs else None


def alpha_ordinal(rank_tables: Mapping[int, Mapping[int, Mapping[int, int]]]) -> float | None:
    """Krippendorff's alpha (ordinal) over candidate ranks.

    rank_tables: {prompt_id: {annotator_id: {candidate_id: rank}}}. Units are candidates;
    only prompts with two or more annotators count. None when alpha is undefined (too little
    data, or no variation at all).
    """
    import krippendorff

    units: list[tuple[int, int]] = []
    annotators: set[int] = set()
    for prompt_id, by_annotator in rank_tables.items():
        if len(by_annotator) < 2:
            continue
        annotators.update(by_annotator)
        candidates = sorted({c for ranks in by_annotator.values() for c in ranks})
        units.extend((prompt_id, c) for c in candidates)
    if len(units) < 2 or len(annotators) < 2:
        return None
    coder_index = {a: i for i, a in enumerate(sorted(annotators))}
    unit_index = {u: j for j, u in enumerate(units)}
    data = np.full((len(coder_index), len(units)), np.nan)
    for prompt_id, by_annotator in rank_tables.items():
        if len(by_annotator) < 2:
            continue
        for annotator, ranks in by_annotator.items():
            for candidate, rank in ranks.items():
                data[coder_index[annotator], unit_index[(prompt_id, candidate)]] = rank
    values = data[~np.isnan(data)]
    if np.unique(values).size < 2:
        return None
    try:
        alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal"))
    except (ValueError, ZeroDivisionError):
        return None
    return None if math.isnan(alpha) else alpha


def alpha_from_coincidences(counts: Mapping[tuple[int, int, int], int]) -> float | None:
    """Krippendorff's alpha (ordinal) from coincidence counts {(coders, rank a, rank b): n}
    (app.annotation.tallies keeps them per prompt set): the same number `alpha_ordinal`
    gives over the rank tables, without building the reliability matrix. None when alpha
    is undefined (too little data, or no variation at all)."""
    coincidence: dict[tuple[int, int], float] = defaultdict(float)
    for (coders, a, b), n in counts.items():
        if n and coders > 1:
            coincidence[(a, b)] += n / (coders - 1)
    marginal: dict[int, float] = defaultdict(float)
    for (a, _b), weight in coincidence.items():
        marginal[a] += weight
    values = sorted(v for v, weight in marginal.items() if weight > 0)
    total = sum(marginal.values())
    if len(values) < 2 or total <= 1:
        return None

    def distance(c: int, k: int) -> float:
        low, high = min(c, k), max(c, k)
        between = sum(marginal[g] for g in values if low <= g <= high)
        return (between - (marginal[c] + marginal[k]) / 2) ** 2

    observed = sum(weight * distance(a, b) for (a, b), weight in coincidence.items())
    expected = sum(marginal[c] * marginal[k] * distance(c, k) for c in values for k in values)
    if expected == 0:
        return None
    return 1 - (total - 1) * observed / expected
