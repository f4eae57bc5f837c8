"""Which model wins: raw win rates and Bradley–Terry strengths with bootstrap intervals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
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


WinCounts = Mapping[ModelPair, int]  # (winner, loser) -> comparisons


def win_counts(pairs: Iterable[ModelPair]) -> Counter[ModelPair]:
    """(winner, loser) -> comparisons, leaving out a model's comparisons with itself."""
    return Counter((w, loser) for w, loser in pairs if w != loser)


def win_rates(wins: WinCounts | Iterable[ModelPair]) -> dict[str, WinRate]:
    counts = wins if isinstance(wins, Mapping) else win_counts(wins)
    won: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    for (winner, loser), n in counts.items():
        if winner == loser or not n:
            continue
        won[winner] += n
        lost[loser] += n
    models = sorted(set(won) | set(lost))
    return {m: WinRate(won[m], lost[m]) for m in models}


# A little regularisation keeps the fit finite when a model never loses (or never wins).
_ALPHA = 0.01
_MAX_ITER, _TOL = 100, 1e-8


def _stationary(generator: np.ndarray) -> np.ndarray:
    """The stationary distribution of a Markov chain's generator (rows sum to 0), scaled
    to sum to n: pi @ generator = 0 with one equation replaced by sum(pi) = n. The
    regularisation makes the chain irreducible, so the system has one solution."""
    n = generator.shape[0]
    system = generator.T.copy()
    system[-1, :] = 1.0
    rhs = np.zeros(n)
    rhs[-1] = n
    return np.linalg.solve(system, rhs)


def _fit(matrix: np.ndarray) -> np.ndarray:
    """I-LSR (Maystre & Grossglauser 2015) on the dense win matrix, as
    choix.ilsr_pairwise_dense(matrix, alpha=_ALPHA) computes it, centred log strengths.

    Not choix itself: its stationary distribution is computed inside
    `warnings.catch_warnings()`, which swaps the process-wide warning filter list and is
    not thread-safe (Python 3.11). The bootstrap runs it hundreds of times in the
    strength-intervals thread and in request threads, and each exit restored a filter list
    saved before another thread's own catch_warnings had entered: that other thread lost
    its filter mid-way (issue 22: FastAPI, which builds a route's parameter fields at the
    route's first request, inside a catch_warnings that ignores pydantic's
    UnsupportedFieldAttributeWarning for the alias it gives every query and path
    parameter, lost that "ignore", and the warning became an error under the suite's
    filterwarnings). numpy's solve warns about nothing."""
    n = matrix.shape[0]
    params = np.zeros(n)
    previous: np.ndarray | None = None
    for _ in range(_MAX_ITER):
        weights = np.exp(params - params.mean())
        weights *= n / weights.sum()
        chain = _ALPHA * np.ones((n, n)) + matrix.T / (weights[None, :] + weights[:, None])
        chain -= np.diag(chain.sum(axis=1))
        logs = np.log(_stationary(chain))
        params = logs - logs.mean()
        if previous is not None and np.abs(previous - params).sum() <= _TOL * n:
            return params
        previous = params
    raise RuntimeError(f"Bradley-Terry did not converge after {_MAX_ITER} iterations")


def bradley_terry(
    wins: WinCounts | Iterable[ModelPair], *, bootstrap: int = 200, seed: int = 0
) -> dict[str, Strength]:
    """Fit on the win matrix; resample its counts (multinomial) for 95% intervals, so the
    cost does not grow with the number of comparisons."""
    counts = {
        pair: n
        for pair, n in (wins if isinstance(wins, Mapping) else win_counts(wins)).items()
        if n and pair[0] != pair[1]
    }
    models = sorted({m for pair in counts for m in pair})
    if not models:
        return {}
    if len(models) == 1:
        return {models[0]: Strength(0.0, None, None)}
    index = {m: i for i, m in enumerate(models)}
    matrix = np.zeros((len(models), len(models)))
    for (winner, loser), n in counts.items():
        matrix[index[winner], index[loser]] += n
    return strengths_from_matrix(models, matrix, bootstrap=bootstrap, seed=seed)


def strengths_from_matrix(
    names: list[str], matrix: np.ndarray, *, bootstrap: int = 200, seed: int = 0
) -> dict[str, Strength]:
    """Bradley–Terry from a win matrix (matrix[i, j]: i beat j), so callers holding a
    million comparisons count them without building a list of pairs."""
    seen = [i for i in range(len(names)) if matrix[i].sum() + matrix[:, i].sum() > 0]
    if not seen:
        return {}
    if len(seen) == 1:
        return {names[seen[0]]: Strength(0.0, None, None)}
    matrix = matrix[np.ix_(seen, seen)]
    estimate = _fit(matrix)
    if bootstrap == 0:
        return {names[i]: Strength(float(estimate[k]), None, None) for k, i in enumerate(seen)}
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
        names[i]: Strength(float(estimate[k]), float(low[k]), float(high[k]))
        for k, i in enumerate(seen)
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


def model_standings(
    wins: WinCounts | Iterable[ModelPair], strengths: Mapping[str, Strength] | None = None
) -> list[ModelStanding]:
    """The model-strength table, strongest first (ties by model name): the one place it
    is assembled, for the dashboard, the researcher stats and the dataset card.
    `strengths`: already fitted (app.analytics.intervals caches them); else fitted here."""
    counts = wins if isinstance(wins, Mapping) else win_counts(wins)
    rates = win_rates(counts)
    if strengths is None:
        strengths = bradley_terry(counts)
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
