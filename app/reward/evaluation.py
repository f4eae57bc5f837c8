"""Held-out evaluation of a version: accuracy with a 95% CI, human references, baselines.

Everything is measured on the test pairs (the export's stable hash split by prompt):
- accuracy: share of test pairs whose chosen candidate scores higher (weights count tie
  halves), with a percentile bootstrap 95% CI that resamples *prompts* (pairs of one
  prompt are correlated, so resampling pairs would give a CI that is too narrow);
- human (`human_reference`), on the test pairs whose prompt another annotator ranked,
  each with its n and CI, beside the model's accuracy on exactly those pairs:
  inter-annotator agreement (the share of the other annotators who order the pair the
  same way, about q^2 + (1-q)^2) and the accuracy of the majority of the other annotators
  (about max(q, 1-q): what a model predicting the crowd can reach). The first was shown
  as a "human agreement ceiling" before issue 20; it is no ceiling;
- baselines: the longer answer wins; the candidate displayed first to that annotator wins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from app.analytics.agreement import leave_one_out_votes
from app.annotation.assignment import candidate_order
from app.reward.data import Pairs, SetData
from app.reward.head import pair_accuracy

BOOTSTRAP = 1000


def _weighted_share(hits: np.ndarray, totals: np.ndarray, axis: int = -1) -> np.ndarray:
    return hits.sum(axis=axis) / np.maximum(totals.sum(axis=axis), 1e-12)


def accuracy_with_ci(
    correct: np.ndarray, weight: np.ndarray, prompt_ids: np.ndarray, *, seed: int = 0
) -> dict[str, Any]:
    """Weighted accuracy and a prompt-clustered percentile bootstrap 95% CI
    (`scipy.stats.bootstrap` over the prompts' (hits, weight) totals, resampled together)."""
    from scipy.stats import bootstrap

    if len(correct) == 0:
        return {"accuracy": None, "ci95": None, "pairs": 0}
    prompts, index = np.unique(prompt_ids, return_inverse=True)
    hits = np.bincount(index, weights=correct * weight, minlength=len(prompts))
    totals = np.bincount(index, weights=weight, minlength=len(prompts))
    if len(prompts) > 1:
        ci = bootstrap(
            (hits, totals),
            _weighted_share,
            paired=True,
            vectorized=True,
            n_resamples=BOOTSTRAP,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
        low, high = float(ci.low), float(ci.high)
    else:  # one prompt: every resample is that prompt
        low = high = float(hits.sum() / totals.sum())
    return {
        "accuracy": round(float(hits.sum() / totals.sum()), 4),
        "ci95": [round(low, 4), round(high, 4)],
        "pairs": int(len(correct)),
        "prompts": int(len(prompts)),
    }


def human_reference(
    data: SetData, test: Pairs, score_of: dict[int, float], *, seed: int = 0
) -> dict[str, Any]:
    """Inter-annotator agreement, the majority of the other annotators and the model, on the
    same test pairs: those with another annotator who ranked both candidates.

    Per pair, v is the other annotators' mean vote (1 chosen above, 0.5 tied, 0 below):
    agreement counts v, the majority counts 1 when v > 1/2, 0.5 when v = 1/2 (the
    others split) and 0 below. Pair weights (tie halves) and the prompt-clustered CI are
    those of the model's accuracy."""
    votes = leave_one_out_votes(
        zip(
            test.prompt_id.tolist(),
            test.annotator_id.tolist(),
            test.chosen.tolist(),
            test.rejected.tolist(),
            strict=True,
        ),
        data.rankings,
    )
    covered = np.asarray([v is not None for v in votes], dtype=bool)
    mean_vote = np.asarray([v for v in votes if v is not None], dtype=float)
    same = test.where(covered)
    majority = (mean_vote > 0.5) + 0.5 * (mean_vote == 0.5)
    agreement = accuracy_with_ci(mean_vote, same.weight, same.prompt_id, seed=seed)
    agreement["agreement"] = agreement.pop("accuracy")
    return {
        "inter_annotator_agreement": agreement,
        "majority_accuracy": accuracy_with_ci(majority, same.weight, same.prompt_id, seed=seed),
        "model_accuracy": model_accuracy(score_of, same, seed=seed),
    }


def _baseline(test: Pairs, rule: Callable[[int, int, int, int], float]) -> dict[str, Any]:
    correct = np.asarray(
        [
            rule(int(p), int(a), int(c), int(r))
            for p, a, c, r in zip(
                test.prompt_id, test.annotator_id, test.chosen, test.rejected, strict=True
            )
        ],
        dtype=float,
    )
    return accuracy_with_ci(correct, test.weight, test.prompt_id)


def baselines(data: SetData, test: Pairs) -> dict[str, Any]:
    by_prompt: dict[int, list[int]] = {}
    for cid, (pid, _) in data.candidates.items():
        by_prompt.setdefault(pid, []).append(cid)

    def longer(_p: int, _a: int, c: int, r: int) -> float:
        lc, lr = len(data.candidates[c][1]), len(data.candidates[r][1])
        return 1.0 if lc > lr else 0.5 if lc == lr else 0.0

    def first_displayed(p: int, a: int, c: int, r: int) -> float:
        order = candidate_order(a, p, by_prompt[p])
        return 1.0 if order.index(c) < order.index(r) else 0.0

    return {
        "longer_answer_wins": _baseline(test, longer),
        "first_displayed_wins": _baseline(test, first_displayed),
    }


def model_accuracy(score_of: dict[int, float], test: Pairs, *, seed: int = 0) -> dict[str, Any]:
    diff = np.asarray(
        [
            score_of[int(c)] - score_of[int(r)]
            for c, r in zip(test.chosen, test.rejected, strict=True)
        ]
    )
    return accuracy_with_ci(
        pair_accuracy(diff) if len(diff) else diff, test.weight, test.prompt_id, seed=seed
    )


def paired_difference(
    new_correct: np.ndarray,
    old_correct: np.ndarray,
    weight: np.ndarray,
    prompt_ids: np.ndarray,
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """Two scorers on the same pairs: each one's weighted accuracy and the difference
    new - old with a prompt-clustered percentile bootstrap 95% CI (the pairs are the
    same, so the CI is of the paired difference, much narrower than two separate CIs)."""
    diff = accuracy_with_ci(new_correct - old_correct, weight, prompt_ids, seed=seed)
    return {
        "difference": diff["accuracy"],
        "ci95": diff["ci95"],
        "pairs": diff["pairs"],
        "prompts": diff.get("prompts", 0),
        "this_accuracy": accuracy_with_ci(new_correct, weight, prompt_ids)["accuracy"],
        "its_accuracy": accuracy_with_ci(old_correct, weight, prompt_ids)["accuracy"],
    }


def curve_sizes(n_train: int, points: int = 6, smallest: int = 16) -> list[int]:
    """Training-set sizes for the learning curve: geometric from `smallest` to all."""
    if n_train <= smallest:
        return [n_train] if n_train else []
    sizes = np.unique(np.geomspace(smallest, n_train, points).astype(int))
    return [int(s) for s in sizes]
