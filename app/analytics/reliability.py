"""Annotator reliability from pairwise votes, and the reliability-weighted vote on a pair.

The model is the one-coin Dawid–Skene model (Zhang et al. 2016; crowd-kit's
`OneCoinDawidSkene`) over pair tasks: each (lower id, higher id) candidate pair is a task
whose hidden label is which side is better, and each annotator has one skill s, the
probability that their verdict on a pair is the true one. That is Crowd-BT's annotator
model (Chen et al. 2013: η_w, the chance annotator w agrees with the true order; η < 0.5 is
an adversary) with the true order of each pair left as a latent variable instead of being
tied to per-item Bradley–Terry scores: consensus rows are per pair, so per-pair truths are
what an export needs.

The EM here is crowd-kit's (1.4.2) step for step — majority-vote initialisation, E-step in
base-2 logs shifted by the row maximum, M-step skill = mean posterior of the annotator's
own label, errors clipped to [1e-10, 1 − 1e-10], stop when the evidence lower bound per
vote gains less than TOLERANCE — but on integer-coded numpy arrays: one `bincount` per
label over the votes for the E-step, one over the annotators for the M-step, and the bound
from per-annotator and per-task sums. crowd-kit goes through pandas joins and a Python
`apply` per (annotator, label) row: 33 s at 200k comparisons, 309 s at 1M (issue 22).
tests/unit/test_consensus_simulation.py pins this fit to crowd-kit's skills (crowd-kit is
a dev dependency: the tests' reference, not the app's).

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

import functools
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from app.analytics.votes import Vote

# Pseudo-votes (half right, half wrong) added to each annotator's fitted skill.
PRIOR_VOTES = 4
# EM stops after this many iterations or when the bound moves less than TOLERANCE per vote.
MAX_ITERATIONS = 100
TOLERANCE = 1e-5
# crowd-kit's floor (and 1 - ceiling) for probabilities before a log.
EPS = 1e-10
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


def reliability(skill: float, votes: int) -> AnnotatorReliability:
    return AnnotatorReliability(skill, votes, reliability_weight(skill, votes))


class VoteTable:
    """Strict pairwise verdicts (annotator, chosen, rejected), gathered as int64 numpy
    chunks (24 bytes per comparison) and coded as tasks and labels when fitted."""

    CHUNK = 65_536

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []  # (n, 3) int64: annotator, chosen, rejected

    def add_columns(self, annotators: np.ndarray, chosen: np.ndarray, rejected: np.ndarray) -> None:
        self._chunks.append(np.column_stack([annotators, chosen, rejected]).astype(np.int64))

    def add_flat(self, values: Iterable[int], count: int) -> None:
        """Add `count` // 3 comparisons given as one flat run of annotator, chosen,
        rejected values (a chunk of query rows, chained)."""
        self._chunks.append(np.fromiter(values, np.int64, count).reshape(-1, 3))

    def extend(self, comparisons: Iterable[tuple[int, int, int]]) -> VoteTable:
        """Add (annotator, chosen, rejected) triples, CHUNK at a time through np.fromiter
        (no Python object per comparison is kept)."""
        rows = iter(comparisons)
        while True:
            flat = np.fromiter(
                itertools.chain.from_iterable(itertools.islice(rows, self.CHUNK)), np.int64
            )
            if not len(flat):
                return self
            self._chunks.append(flat.reshape(-1, 3))

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(annotator, task, label): task = (lower id << 32) | higher id, label 1 when the
        higher id won."""
        if not self._chunks:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        table = np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        annotators, chosen, rejected = table[:, 0], table[:, 1], table[:, 2]
        low = np.minimum(chosen, rejected)
        high = np.maximum(chosen, rejected)
        tasks = (low << CANDIDATE_ID_BITS) | high
        return annotators, tasks, (chosen != low).astype(np.int64)

    def __len__(self) -> int:
        return sum(len(c) for c in self._chunks)


def fit_reliability(table: VoteTable) -> dict[int, AnnotatorReliability]:
    """Fit the one-coin model on the strict votes; annotator id -> reliability."""
    annotators, tasks, labels = table.columns()
    if not len(tasks):
        return {}
    worker_ids, workers = np.unique(annotators, return_inverse=True)
    skills = one_coin_skills(workers, np.unique(tasks, return_inverse=True)[1], labels)
    votes = np.bincount(workers, minlength=len(worker_ids))
    return {
        int(uid): reliability(float(s), int(n))
        for uid, s, n in zip(worker_ids, skills, votes, strict=True)
    }


def one_coin_skills(workers: np.ndarray, tasks: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """crowd-kit's OneCoinDawidSkene(n_iter=MAX_ITERATIONS, tol=TOLERANCE).fit(...).skills_,
    over votes coded 0..n-1 (workers, tasks) and labels (any ints): one skill per worker.
    The posteriors are kept as one array per label (tasks long), so the per-task maximum
    and sum are elementwise instead of reductions along a short axis."""
    label_values, label_codes = np.unique(labels, return_inverse=True)
    k = len(label_values)
    n = len(tasks)
    n_workers = int(workers.max()) + 1
    n_tasks = int(tasks.max()) + 1
    per_worker = np.bincount(workers, minlength=n_workers).astype(np.float64)
    per_task = np.bincount(tasks, minlength=n_tasks).astype(np.float64)
    own = [label_codes == c for c in range(k)]  # the votes that gave label c
    own_cell = tasks * k + label_codes  # each vote's (task, own label) in a task-major table

    def m_step(probas: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        # The mean posterior of the annotator's own labels; also its sum (for the bound).
        own_posterior = np.take(np.column_stack(probas).ravel(), own_cell)
        mass = np.bincount(workers, weights=own_posterior, minlength=n_workers)
        return mass / per_worker, mass

    def errors(skills: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # P(verdict = truth), P(verdict = a given other label), clipped as crowd-kit does.
        same = np.clip(skills, EPS, 1 - EPS)
        other = np.clip((1 - skills) / (k - 1), EPS, 1 - EPS) if k > 1 else same
        return same, other

    # Majority vote: each task's share of votes per label.
    probas = [np.bincount(tasks[own[c]], minlength=n_tasks) / per_task for c in range(k)]
    priors = np.array([p.mean() for p in probas])
    skills, _ = m_step(probas)
    same, other = errors(skills)
    loss = -np.inf
    for _ in range(MAX_ITERATIONS):
        # E-step, in base-2 logs shifted by each task's maximum (crowd-kit's scaling).
        log_same = np.take(np.log2(same), workers)
        log_other = np.take(np.log2(other), workers)
        log_priors = np.log2(np.clip(priors, EPS, None))
        log_likelihoods = [
            log_priors[c]
            + np.bincount(tasks, weights=np.where(own[c], log_same, log_other), minlength=n_tasks)
            for c in range(k)
        ]
        top = functools.reduce(np.maximum, log_likelihoods)
        scaled = [np.exp2(ll - top) for ll in log_likelihoods]
        total = functools.reduce(np.add, scaled)
        probas = [p / total for p in scaled]
        priors = np.array([p.mean() for p in probas])
        skills, mass = m_step(probas)
        same, other = errors(skills)
        # The evidence lower bound per vote: E[log joint] over the posteriors, + entropy.
        others_mass = per_worker - mass if k > 1 else np.zeros(n_workers)
        # Sums of products, not `@`: a BLAS dot may start threads that spin on a busy box.
        joint = float(np.sum(mass * np.log(same)) + np.sum(others_mass * np.log(other)))
        log_clipped_priors = np.log(np.clip(priors, EPS, None))
        entropy = 0.0
        for c, p in enumerate(probas):
            joint += float(np.sum(per_task * p)) * log_clipped_priors[c]
            clipped = np.clip(p, EPS, None)
            entropy -= float(np.sum(np.log(clipped) * clipped))
        new_loss = (joint + entropy) / n
        if new_loss - loss < TOLERANCE:
            break
        loss = new_loss
    return skills


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
