"""Simulated annotators of known reliability ranking prompts of known true order, and how
much of that order each consensus method recovers (bench/consensus_sim.py, unit tests).

Both methods run through the export's own code: rankings become PromptGroups, the fit reads
the comparisons `derive_comparisons` stores for them (what the export's pre-pass streams),
and RowBuilder writes the consensus rows.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from app.analytics.reliability import VoteTable, fit_reliability
from app.exports.formats import RowBuilder, RowContext
from app.exports.schemas import ExportOptions
from app.exports.source import AnnotationRec, CandidateRec, PromptGroup
from app.prompt_sets.ranking import derive_comparisons

# Each kind: how an annotator orders candidates whose true quality is 0, 1, 2, ...
# good: by quality plus Gaussian noise (sd NOISE); adversarial: the same, reversed;
# random: a uniformly random order.
KINDS = ("good", "random", "adversarial")
NOISE = 0.6
MIXES: dict[str, dict[str, float]] = {
    "all good": {"good": 1.0},
    "good + random": {"good": 0.5, "random": 0.5},
    "with adversaries": {"good": 0.4, "random": 0.3, "adversarial": 0.3},
}
CREATED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Simulation:
    groups: list[PromptGroup]
    # prompt id -> candidate ids, truly best first
    truth: dict[int, list[int]]
    kinds: dict[int, str]  # annotator id -> kind


@dataclass(frozen=True)
class Recovery:
    pairs: int
    majority: float  # share of true pairs the majority consensus has the right way round
    reliability: float
    fit_seconds: float
    comparisons: int


def _annotator_kinds(rng: random.Random, pool: int, mix: Mapping[str, float]) -> dict[int, str]:
    kinds: list[str] = []
    for kind, share in mix.items():
        kinds += [kind] * round(share * pool)
    kinds += ["good"] * (pool - len(kinds))
    rng.shuffle(kinds)
    return {annotator_id: kind for annotator_id, kind in enumerate(kinds[:pool], start=1)}


def _ranking(rng: random.Random, kind: str, best_first: list[int]) -> list[list[int]]:
    n = len(best_first)
    if kind == "random":
        order = best_first[:]
        rng.shuffle(order)
        return [[c] for c in order]
    sign = 1.0 if kind == "good" else -1.0
    score = {c: sign * (n - i) + rng.gauss(0.0, NOISE) for i, c in enumerate(best_first)}
    return [[c] for c in sorted(best_first, key=lambda c: -score[c])]


def simulate(
    seed: int,
    mix: Mapping[str, float],
    *,
    prompts: int = 200,
    candidates: int = 4,
    per_prompt: int = 5,
    pool: int = 30,
) -> Simulation:
    """`prompts` prompts of `candidates` answers in a random true order, each ranked by
    `per_prompt` annotators drawn from a pool of `pool` whose kinds follow `mix`."""
    rng = random.Random(seed)
    kinds = _annotator_kinds(rng, pool, mix)
    groups, truth = [], {}
    next_candidate = next_annotation = 1
    for prompt_id in range(1, prompts + 1):
        ids = list(range(next_candidate, next_candidate + candidates))
        next_candidate += candidates
        best_first = ids[:]
        rng.shuffle(best_first)
        truth[prompt_id] = best_first
        group = PromptGroup(prompt_id, 1, None, f"prompt {prompt_id}", None, "", "")
        group.candidates = {c: CandidateRec(c, f"answer {c}", "sim") for c in ids}
        for annotator_id in rng.sample(sorted(kinds), per_prompt):
            ranking = _ranking(rng, kinds[annotator_id], best_first)
            group.annotations.append(
                AnnotationRec(
                    next_annotation, annotator_id, ranking, False, {}, {}, None, 1.0, CREATED
                )  # fmt: skip
            )
            next_annotation += 1
        groups.append(group)
    return Simulation(groups, truth, kinds)


def consensus_rows(sim: Simulation, method: str, weights: Mapping[int, float] | None) -> list:
    options = ExportOptions(format="consensus", prompt_set_ids=(1,), consensus_method=method)
    builder = RowBuilder(RowContext(options, lambda chat: "", str, annotator_weights=weights))
    return [row for group in sim.groups for row in builder.rows(group)]


def vote_table(sim: Simulation) -> VoteTable:
    """The comparisons the annotation service stores for each ranking, as the fit reads them."""
    return VoteTable().extend(
        (a.annotator_id, c.chosen_id, c.rejected_id)
        for group in sim.groups
        for a in group.annotations
        for c in derive_comparisons(a.ranking)
    )


def fit_weights(sim: Simulation) -> dict[int, float]:
    return {uid: r.weight for uid, r in fit_reliability(vote_table(sim)).items()}


def recovered(sim: Simulation, rows: list) -> float:
    """Share of every prompt's true (better, worse) pairs that a row states that way."""
    stated = {(r["prompt_id"], r["chosen_id"], r["rejected_id"]) for r in rows}
    total = right = 0
    for prompt_id, best_first in sim.truth.items():
        for i, better in enumerate(best_first):
            for worse in best_first[i + 1 :]:
                total += 1
                right += (prompt_id, better, worse) in stated
    return right / total


def recovery(sim: Simulation) -> Recovery:
    start = time.perf_counter()
    weights = fit_weights(sim)
    fit_seconds = time.perf_counter() - start
    comparisons = len(vote_table(sim))
    pairs = sum(len(b) * (len(b) - 1) // 2 for b in sim.truth.values())
    return Recovery(
        pairs,
        recovered(sim, consensus_rows(sim, "majority", None)),
        recovered(sim, consensus_rows(sim, "reliability", weights)),
        fit_seconds,
        comparisons,
    )
