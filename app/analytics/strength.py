"""Which model wins: raw win rates and Bradley–Terry strengths with bootstrap intervals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from app.annotation.models import Comparison
from app.prompt_sets.models import Candidate, Prompt

ModelPair = tuple[str, str]  # (chosen model, rejected model)


@dataclass(frozen=True)
class WinRate:
    wins: int
    losses: int

    @property
    def rate(self) -> float | None:
        n = self.wins + self.losses
        return self.wins / n if n else None


@dataclass(frozen=True)
class Strength:
    """Log-strength, centred on 0 across models; CI from a bootstrap (None if one model)."""

    strength: float
    ci_low: float | None
    ci_high: float | None


def load_model_pairs(session: Session, prompt_set_id: int) -> list[ModelPair]:
    """(chosen model, rejected model) for every stored comparison across different models."""
    chosen, rejected = aliased(Candidate), aliased(Candidate)
    query = (
        select(chosen.model, rejected.model)
        .select_from(Comparison)
        .join(chosen, chosen.id == Comparison.chosen_candidate_id)
        .join(rejected, rejected.id == Comparison.rejected_candidate_id)
        .join(Prompt, Prompt.id == Comparison.prompt_id)
        .where(Prompt.prompt_set_id == prompt_set_id, chosen.model != rejected.model)
    )
    return [(c, r) for c, r in session.execute(query)]


def win_rates(pairs: Iterable[ModelPair]) -> dict[str, WinRate]:
    wins: Counter[str] = Counter()
    losses: Counter[str] = Counter()
    for winner, loser in pairs:
        if winner == loser:
            continue
        wins[winner] += 1
        losses[loser] += 1
    models = sorted(set(wins) | set(losses))
    return {m: WinRate(wins[m], losses[m]) for m in models}


def _fit(matrix: np.ndarray) -> np.ndarray:
    import choix

    # A little regularisation keeps the fit finite when a model never loses (or never wins).
    params = choix.ilsr_pairwise_dense(matrix, alpha=0.01)
    return params - params.mean()


def bradley_terry(
    pairs: Iterable[ModelPair], *, bootstrap: int = 200, seed: int = 0
) -> dict[str, Strength]:
    """Fit on the win matrix; resample its counts (multinomial) for 95% intervals, so the
    cost does not grow with the number of comparisons."""
    pairs = [(w, loser) for w, loser in pairs if w != loser]
    models = sorted({m for pair in pairs for m in pair})
    if not models:
        return {}
    if len(models) == 1:
        return {models[0]: Strength(0.0, None, None)}
    index = {m: i for i, m in enumerate(models)}
    matrix = np.zeros((len(models), len(models)))
    for winner, loser in pairs:
        matrix[index[winner], index[loser]] += 1
    estimate = _fit(matrix)
    rng = np.random.default_rng(seed)
    total = int(matrix.sum())
    probabilities = (matrix / total).ravel()
    samples = np.array(
        [
            _fit(rng.multinomial(total, probabilities).reshape(matrix.shape).astype(float))
            for _ in range(bootstrap)
        ]
    )
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    return {
        m: Strength(float(estimate[i]), float(low[i]), float(high[i])) for m, i in index.items()
    }
