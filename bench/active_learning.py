"""Replay benchmark: does `uncertain_first` need fewer human labels than `random`?

    PYTHONPATH=$PWD python bench/active_learning.py [--prompts 2000] [--retrain-every 50]
        [--budget 1000] [--seeds 3]

The oracle (simulated annotators answering from known preferences): a pool of prompts,
each with 4 candidates whose embeddings are the prompt's centre plus a per-prompt spread
(log-normal, so some prompts have clearly different answers and some near-duplicates) in
64 dimensions. A hidden reward w* gives every candidate a true utility u = w* . x. An
annotator ranks a prompt's candidates by a Plackett-Luce draw from exp(u) (the
Bradley-Terry model's listwise form: close answers are often swapped, clear ones rarely),
and the ranking becomes its 6 comparisons, as Ranklab stores them.

20% of the prompts (the same stable hash rule as the app) are held out; accuracy is the
share of held-out comparisons of one fresh oracle ranking per prompt that the model orders
the same way. Each order starts from the same 20 random seed rankings; then one ranking
per prompt (k = 1) is collected in that order, and every `--retrain-every` labels the
fast model's head (app.reward.head.fit_head: C chosen on validation, 4 bootstrap heads)
is refitted and the priorities recomputed with app.reward.routing.uncertainty - the same
code the app's claim order comes from. `random` is a seeded shuffle.

It prints held-out accuracy against labels for both orders, and the labels
`uncertain_first` needed to reach random order's final accuracy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.reward.evaluation import accuracy_with_ci  # noqa: E402
from app.reward.head import fit_head, pair_accuracy  # noqa: E402
from app.reward.routing import uncertainty  # noqa: E402

DIM, CANDIDATES, SEED_LABELS = 64, 4, 20


class Oracle:
    def __init__(self, prompts: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.w = rng.normal(size=DIM) / np.sqrt(DIM)
        centres = rng.normal(size=(prompts, 1, DIM))
        spread = rng.lognormal(mean=-0.5, sigma=0.8, size=(prompts, 1, 1))
        self.x = centres + spread * rng.normal(size=(prompts, CANDIDATES, DIM))
        self.u = self.x @ self.w * 3.0
        self.test = rng.random(prompts) < 0.2

    def rank(self, prompt: int) -> list[int]:
        """A Plackett-Luce ranking of the prompt's candidates (best first)."""
        left, out = list(range(CANDIDATES)), []
        while left:
            weights = np.exp(self.u[prompt, left] - self.u[prompt, left].max())
            pick = self.rng.choice(len(left), p=weights / weights.sum())
            out.append(left.pop(pick))
        return out


def pairs_of(prompt: int, ranking: list[int]) -> list[tuple[int, int, int]]:
    return [(prompt, a, b) for i, a in enumerate(ranking) for b in ranking[i + 1 :]]


def fit(oracle: Oracle, labelled: list[tuple[int, int, int]], seed: int) -> np.ndarray:
    p = np.array([x[0] for x in labelled])
    c = oracle.x[p, [x[1] for x in labelled]]
    r = oracle.x[p, [x[2] for x in labelled]]
    validation = (p * 2654435761 % 100) < 15
    return fit_head(c, r, np.ones(len(p)), validation, ensemble=4, seed=seed).weights


def accuracy(oracle: Oracle, weights: np.ndarray, test_pairs: np.ndarray) -> float:
    return accuracy_ci(oracle, weights, test_pairs)["accuracy"]


def accuracy_ci(oracle: Oracle, weights: np.ndarray, test_pairs: np.ndarray) -> dict:
    """Held-out accuracy with the app's prompt-clustered bootstrap 95% CI."""
    p, c, r = test_pairs.T
    diff = (oracle.x[p, c] - oracle.x[p, r]) @ weights[0]
    return accuracy_with_ci(pair_accuracy(diff), np.ones(len(p)), p)


def ceiling(oracle: Oracle, test_pairs: np.ndarray) -> float:
    """How often a second simulated annotator orders a held-out pair the same way."""
    again: dict[int, list[int]] = {}
    same = []
    for p, c, r in test_pairs:
        ranking = again.setdefault(int(p), oracle.rank(int(p)))
        same.append(ranking.index(int(c)) < ranking.index(int(r)))
    return float(np.mean(same))


def priorities(oracle: Oracle, weights: np.ndarray, open_prompts: list[int]) -> list[int]:
    """Open prompts, least certain first (the app's uncertainty signal)."""
    scores = oracle.x[open_prompts] @ weights.T  # (prompts, candidates, 1 + ensemble)
    u = [
        uncertainty({c: (float(s[c, 0]), float(s[c, 1:].std())) for c in range(CANDIDATES)}, [])
        for s in scores
    ]
    return [p for _, p in sorted(zip((-x for x in u), open_prompts, strict=True))]


def replay(
    oracle: Oracle, order: str, budget: int, every: int, seed: int
) -> list[tuple[int, float]]:
    rng = np.random.default_rng(seed + 1)
    pool = [int(p) for p in np.flatnonzero(~oracle.test)]
    rng.shuffle(pool)
    test_pairs = np.array(
        [
            pair
            for p in np.flatnonzero(oracle.test)
            for pair in pairs_of(int(p), oracle.rank(int(p)))
        ]
    )
    labelled = [pair for p in pool[:SEED_LABELS] for pair in pairs_of(p, oracle.rank(p))]
    open_prompts = pool[SEED_LABELS:]
    weights = fit(oracle, labelled, seed)
    curve = [(SEED_LABELS, accuracy(oracle, weights, test_pairs))]
    labels = SEED_LABELS
    while labels < budget and open_prompts:
        if order == "uncertain_first":
            open_prompts = priorities(oracle, weights, open_prompts)
        batch, open_prompts = open_prompts[:every], open_prompts[every:]
        labelled += [pair for p in batch for pair in pairs_of(p, oracle.rank(p))]
        labels += len(batch)
        weights = fit(oracle, labelled, seed)
        curve.append((labels, accuracy(oracle, weights, test_pairs)))
    final = accuracy_ci(oracle, weights, test_pairs)
    print(
        f"  {order}: final held-out accuracy {final['accuracy']:.3f} CI {final['ci95']} on "
        f"{final['pairs']} pairs; human-style ceiling {ceiling(oracle, test_pairs):.3f}",
        flush=True,
    )
    return curve


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    return next((n for n, acc in curve if acc >= target), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--retrain-every", type=int, default=50)
    parser.add_argument("--budget", type=int, default=1000, help="rankings collected")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    savings = []
    for seed in range(args.seeds):
        curves = {
            order: replay(Oracle(args.prompts, seed), order, args.budget, args.retrain_every, seed)
            for order in ("random", "uncertain_first")
        }
        print(f"seed {seed}: labels -> held-out accuracy")
        for (n, a), (_, b) in zip(curves["random"], curves["uncertain_first"], strict=False):
            print(f"  {n:>5}  random {a:.3f}  uncertain_first {b:.3f}")
        target = curves["random"][-1][1]
        n_random = curves["random"][-1][0]
        n_uncertain = labels_to_reach(curves["uncertain_first"], target)
        saved = None if n_uncertain is None else 1 - n_uncertain / n_random
        savings.append(saved)
        print(
            f"  random reaches {target:.3f} with {n_random} labels; uncertain_first reaches it "
            f"with {n_uncertain}: {'not reached' if saved is None else f'{saved:.0%} fewer'}",
            flush=True,
        )
    reached = [s for s in savings if s is not None]
    if reached:
        print(
            f"mean labels saved at equal accuracy: {np.mean(reached):.0%} over {len(reached)} seeds"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
