"""The fast reward model's Bradley-Terry head, fitted with scikit-learn.

Bradley-Terry says P(a beats b) = sigmoid(s(a) - s(b)). With a linear score
s(x) = w . x on frozen embeddings, that is logistic regression without intercept on the
differences x_a - x_b, which `LogisticRegression(fit_intercept=False)` fits (L2
penalty, strength 1/C). Each pair is used once, in a seeded random orientation (label 1
for "chosen - rejected", 0 for the negated difference), so both classes are present.
Embedding dimensions are scaled by their spread over the training candidates first:
hidden states have a few huge dimensions that would otherwise dominate the penalty.

C is chosen on validation prompts; then `ensemble` bootstrap resamples of the training
*prompts* (every pair of a drawn prompt, as often as it is drawn: pairs of one prompt are
correlated, as in app.reward.evaluation) give as many heads, whose spread of scores is
the model's uncertainty. Fits are
warm-started from the previous solution (see _Fitter), which is what keeps 10,000
comparisons under two seconds. Row 0 of
the weight matrix is the head fitted on all training pairs (the score); rows 1..B the
bootstrap heads (the spread).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

C_GRID = (0.01, 0.1, 1.0, 10.0)
MAX_ITER = 300
TOL = 1e-3


class Scored(NamedTuple):
    """One candidate's score by a version: the full head's score, the bootstrap heads'
    standard deviation, and each bootstrap head's score (empty without an ensemble)."""

    score: float
    spread: float
    heads: tuple[float, ...] = ()


# What a version stores per candidate: Scored, or (score, spread) where there are no heads.
ScoreRow = Scored | tuple[float, float]


def scored_rows(all_scores: np.ndarray) -> list[Scored]:
    """Rows of (n, 1 + ensemble) scores (column 0 the full head) as Scored."""
    boot = all_scores[:, 1:]
    spread = boot.std(axis=1) if boot.shape[1] else np.zeros(len(all_scores))
    return [
        Scored(float(row[0]), float(d), tuple(float(v) for v in row[1:]))
        for row, d in zip(all_scores, spread, strict=True)
    ]


@dataclass
class Head:
    weights: np.ndarray  # (1 + ensemble, dim), already divided by `scale`
    scale: np.ndarray  # (dim,)
    c: float
    validation_accuracy: dict[str, float]  # held-out accuracy per C of the grid

    def scores(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(score, spread) per row of x: the full head's score, the bootstrap heads' std."""
        all_scores = x @ self.weights.T
        spread = (
            all_scores[:, 1:].std(axis=1) if self.weights.shape[0] > 1 else 0 * all_scores[:, 0]
        )
        return all_scores[:, 0], spread

    def scored(self, x: np.ndarray) -> list[Scored]:
        """Scored per row of x, with each bootstrap head's score."""
        return scored_rows(x @ self.weights.T)


def _oriented(diff: np.ndarray, weight: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """Each pair once, in a seeded random orientation (label 1: chosen - rejected); the
    last array maps each row back to its pair."""
    flip = np.random.default_rng(seed).random(len(diff)) < 0.5
    # float32: half the memory traffic of each fit, and embeddings carry no more precision.
    x = np.where(flip[:, None], -diff, diff).astype(np.float32)
    y = (~flip).astype(int)
    pair = np.arange(len(diff))
    if y.min() == y.max():  # one orientation only: add each pair's mirror image
        x, y, weight = np.vstack([x, -x]), np.concatenate([y, 1 - y]), np.tile(weight, 2)
        pair = np.tile(pair, 2)
    return x, y, weight, pair


def prompt_bootstrap_rows(
    pair_prompt: np.ndarray, row_pair: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Row indices of one bootstrap resample of the prompts: as many prompts as there
    are, drawn with replacement; each drawn prompt brings all its rows, once per draw."""
    prompts, prompt_of_pair = np.unique(pair_prompt, return_inverse=True)
    draws = np.bincount(rng.integers(0, len(prompts), len(prompts)), minlength=len(prompts))
    return np.repeat(np.arange(len(row_pair)), draws[prompt_of_pair[row_pair]])


class _Fitter:
    """One LogisticRegression refitted with warm starts: each fit begins at the previous
    solution (the next C of the grid, a bootstrap resample of the same pairs), which
    takes a fraction of the iterations of a cold start."""

    def __init__(self) -> None:
        from sklearn.linear_model import LogisticRegression

        self.model = LogisticRegression(
            fit_intercept=False, max_iter=MAX_ITER, tol=TOL, warm_start=True
        )

    def fit(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray, c: float) -> np.ndarray:
        from sklearn.exceptions import ConvergenceWarning

        self.model.set_params(C=c)
        with warnings.catch_warnings():
            # A capped number of iterations is a deliberate speed/accuracy trade here.
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.fit(x, y, sample_weight=weight)
        return self.model.coef_[0].copy()


def _fit(diff: np.ndarray, weight: np.ndarray, c: float, seed: int) -> np.ndarray:
    x, y, w, _ = _oriented(diff, weight, seed)
    return _Fitter().fit(x, y, w, c)


def pair_accuracy(score_diff: np.ndarray) -> np.ndarray:
    """Per pair: 1 when chosen scores higher, 0.5 on an exact tie, 0 otherwise."""
    return (score_diff > 0) + 0.5 * (score_diff == 0)


def fit_head(
    x_chosen: np.ndarray,
    x_rejected: np.ndarray,
    weight: np.ndarray,
    is_validation: np.ndarray,
    *,
    prompt_id: np.ndarray | None = None,
    ensemble: int,
    seed: int,
    c_grid: tuple[float, ...] = C_GRID,
) -> Head:
    """Choose C on the validation pairs, refit on every training pair, add bootstrap heads
    fitted on resamples of the prompts (`prompt_id` per pair; each pair its own prompt
    when not given)."""
    scale = _scale(np.vstack([x_chosen, x_rejected]))
    diff = (x_chosen - x_rejected) / scale
    train, val = ~is_validation, is_validation
    chosen_c = 1.0
    by_c: dict[str, float] = {}
    if val.any() and train.sum() >= 2:
        grid = _Fitter()
        x, y, w, _ = _oriented(diff[train], weight[train], seed)
        for c in sorted(c_grid):  # weakest regularisation last: each fit warm-starts the next
            coef = grid.fit(x, y, w, c)
            by_c[str(c)] = float(np.average(pair_accuracy(diff[val] @ coef), weights=weight[val]))
        chosen_c = float(max(c_grid, key=lambda c: (by_c[str(c)], -abs(np.log10(c)))))
    full = _Fitter()
    x, y, w, row_pair = _oriented(diff, weight, seed)
    rows = [full.fit(x, y, w, chosen_c)]
    rng = np.random.default_rng(seed + 1)
    groups = np.arange(len(diff)) if prompt_id is None else np.asarray(prompt_id)
    for _ in range(ensemble):
        sample = prompt_bootstrap_rows(groups, row_pair, rng)
        if y[sample].min() == y[sample].max():  # one class only (a tiny set): all rows
            sample = np.arange(len(x))
        rows.append(full.fit(x[sample], y[sample], w[sample], chosen_c))
    weights = np.vstack(rows) / scale
    return Head(weights=weights, scale=scale, c=chosen_c, validation_accuracy=by_c)


def fit_fixed(
    x_chosen: np.ndarray, x_rejected: np.ndarray, weight: np.ndarray, *, c: float, seed: int
) -> np.ndarray:
    """One head with a given C (learning-curve points); weights in raw embedding units."""
    scale = _scale(np.vstack([x_chosen, x_rejected]))
    return _fit((x_chosen - x_rejected) / scale, weight, c, seed) / scale


def _scale(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    return np.where(sd > 1e-8, sd, 1.0)
