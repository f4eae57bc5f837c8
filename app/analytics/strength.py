"""Which model wins: raw win rates and Bradley–Terry strengths with bootstrap intervals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# pydantic (the stats API's response model) needs typing_extensions' TypedDict before 3.12.
from typing_extensions import TypedDict

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


class ModelStanding(TypedDict):
    """One model's row in the strength table: raw record and Bradley–Terry strength.
    A dict, as the stats API and the dataset card hand it on."""

    model: str
    wins: int
    losses: int
    win_rate: float | None
    strength: float
    ci_low: float | None
    ci_high: float | None


def model_standings(pairs: Iterable[ModelPair]) -> list[ModelStanding]:
    """The model-strength table, strongest first (ties by model name): the one place it
    is assembled, for the dashboard, the researcher stats and the dataset card."""
    pairs = list(pairs)
    rates = win_rates(pairs)
    strengths = bradley_terry(pairs)
    rows: list[ModelStanding] = [
        {
            "model": model,
            "wins": rates[model].wins,
            "losses": rates[model].losses,
            "win_rate": rates[model].rate,
            "strength": s.strength,
            "ci_low": s.ci_low,
            "ci_high": s.ci_high,
        }
        for model, s in strengths.items()
    ]
    return sorted(rows, key=lambda row: -row["strength"])
