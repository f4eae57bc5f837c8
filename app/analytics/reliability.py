"""Annotator reliability from pairwise votes, and the reliability-weighted vote on a pair.

The model is crowd-kit's one-coin Dawid–Skene (`OneCoinDawidSkene`) over pair tasks: each
(lower id, higher id) candidate pair is a task whose hidden label is which side is better,
and each annotator has one skill s, the probability that their verdict on a pair is the
true one. That is Crowd-BT's annotator model (Chen et al. 2013: η_w, the chance annotator
w agrees with the true order; η < 0.5 is an adversary) with the true order of each pair left
as a latent variable instead of being tied to per-item Bradley–Terry scores: consensus rows
are per pair, so per-pair truths are what an export needs. EM over a vectorised pandas
table fits ~200k comparisons in under a minute on one core.

Why not crowd-kit's pairwise models: `BradleyTerry` has no annotator parameters and builds
a dense items × items win matrix (every candidate of the export is an item: 10^5 items is
80 GB). `NoisyBradleyTerry` does estimate a per-annotator skill, but (crowd-kit 1.4.2) its
analytic gradient for the annotator parameters disagrees with the numeric gradient of its
own likelihood, so L-BFGS returns skills that do not track the truth; its gradient is a
Python loop per comparison (96 s for 36k comparisons here, hours at 1M); and its skill is
a mixture weight in [0, 1], so an adversarial annotator can at best be ignored, never
read in reverse.

The vote: an annotator's weight is the log-odds of their skill, log(s / (1 − s)) — the
optimal weight for independent voters of known accuracy (Nitzan & Paroush 1982), which is
exactly the one-coin model's posterior for a pair under an even prior. Adversaries get a
negative weight (their verdicts count reversed), random annotators ~0. The skill is first
shrunk towards 0.5 by `PRIOR_VOTES` pseudo-votes, so an annotator with a handful of votes
cannot outweigh everyone. A tie vote says nothing about which side is better: it abstains.
"""

from __future__ import annotations

import importlib.util
import math
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.analytics.votes import Vote

# Pseudo-votes (half right, half wrong) added to each annotator's fitted skill.
PRIOR_VOTES = 4
# EM stops after this many iterations or when the bound moves less than TOLERANCE per vote.
MAX_ITERATIONS = 100
TOLERANCE = 1e-5
CANDIDATE_ID_BITS = 32


@dataclass(frozen=True)
class AnnotatorReliability:
    """Per annotator: the model's skill (probability a verdict is the true one), the
    number of strict votes it was fitted on, and the vote weight derived from both."""

    skill: float
    votes: int
    weight: float


def reliability_weight(skill: float, votes: int) -> float:
    """Log-odds of the skill shrunk towards 0.5 by PRIOR_VOTES pseudo-votes."""
    shrunk = (skill * votes + PRIOR_VOTES / 2) / (votes + PRIOR_VOTES)
    return math.log(shrunk / (1.0 - shrunk))


class VoteTable:
    """Strict pairwise verdicts (annotator, chosen, rejected) kept as three int64 arrays:
    ~24 bytes per comparison, so a million fit in ~24 MB before the model's own tables."""

    def __init__(self) -> None:
        self.annotators = array("q")
        self.tasks = array("q")
        self.labels = array("b")

    def add(self, annotator_id: int, chosen: int, rejected: int) -> None:
        low, high = (chosen, rejected) if chosen < rejected else (rejected, chosen)
        self.annotators.append(annotator_id)
        self.tasks.append((low << CANDIDATE_ID_BITS) | high)
        self.labels.append(0 if chosen == low else 1)  # which side of the task won

    def extend(self, comparisons: Iterable[tuple[int, int, int]]) -> VoteTable:
        for annotator_id, chosen, rejected in comparisons:
            self.add(annotator_id, chosen, rejected)
        return self

    def __len__(self) -> int:
        return len(self.tasks)


def model_available() -> bool:
    """Whether crowd-kit (Ranklab's ml extra) is installed."""
    return importlib.util.find_spec("crowdkit") is not None


def fit_reliability(table: VoteTable) -> dict[int, AnnotatorReliability]:
    """Fit the one-coin model on the strict votes; annotator id -> reliability."""
    if not len(table):
        return {}
    import numpy as np
    import pandas as pd
    from crowdkit.aggregation import OneCoinDawidSkene

    data = pd.DataFrame(
        {
            "task": np.frombuffer(table.tasks, dtype=np.int64),
            "worker": np.frombuffer(table.annotators, dtype=np.int64),
            "label": np.frombuffer(table.labels, dtype=np.int8).astype(np.int64),
        }
    )
    model = OneCoinDawidSkene(n_iter=MAX_ITERATIONS, tol=TOLERANCE).fit(data)
    counts = data["worker"].value_counts()
    out = {}
    for annotator_id, skill in model.skills_.items():
        votes = int(counts[annotator_id])
        out[int(annotator_id)] = AnnotatorReliability(
            float(skill), votes, reliability_weight(float(skill), votes)
        )
    return out


def weighted_scores(
    votes: Iterable[Vote], weights: Mapping[int, float]
) -> dict[tuple[int, int, int], float]:
    """Per pair (prompt, a, b): the sum of weight × outcome (+1 a better, -1 b better, ties
    0). Positive: a wins; its posterior probability is the logistic of the score."""
    scores: dict[tuple[int, int, int], float] = {}
    for vote in votes:
        scores[vote.pair] = (
            scores.get(vote.pair, 0.0) + weights.get(vote.annotator_id, 0.0) * vote.outcome
        )
    return scores


def score_confidence(score: float) -> float:
    """Posterior probability of the winning side of a pair with this weighted score."""
    return 1.0 / (1.0 + math.exp(-abs(score)))
