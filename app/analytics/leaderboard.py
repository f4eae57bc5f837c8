"""The generator leaderboard: raw and style-controlled Bradley–Terry, win-rate matrix,
per-category standings. Pure: arrays in, numbers out (loaders.py reads the rows).

Style control follows Chatbot Arena: a logistic regression on the comparison design
matrix — per comparison, +1 for one generator and -1 for the other, plus the normalised
differences of style features (length, markdown headers, list items, bold) — so a
generator that wins by writing longer or more decorated answers loses that advantage in
the controlled fit. Its intervals come from the inverse Fisher information (the fit is
one Newton solve on about ten columns, cheap at a million comparisons); the raw fit's
intervals are strength.py's multinomial bootstrap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from typing_extensions import TypedDict

from app.analytics.strength import strengths_from_matrix

STYLE_FEATURES = ("length", "headers", "list_items", "bold")
_HEADER = re.compile(r"^\s{0,3}#{1,6}\s", re.M)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s", re.M)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
RIDGE = 1e-3  # keeps the fit finite when a generator never loses; negligible at scale


def style_of(text: str) -> tuple[float, float, float, float]:
    """(characters, markdown headers, list items, bold spans) of one answer."""
    return (
        float(len(text)),
        float(len(_HEADER.findall(text))),
        float(len(_LIST_ITEM.findall(text))),
        float(len(_BOLD.findall(text))),
    )


@dataclass
class Duels:
    """Comparisons as arrays: winner and loser generator index, and their styles."""

    names: list[str]
    winner: np.ndarray  # int, n
    loser: np.ndarray  # int, n
    winner_style: np.ndarray  # float32, n x len(STYLE_FEATURES)
    loser_style: np.ndarray
    category: np.ndarray | None = None  # int codes into `categories`, -1 for none
    categories: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.winner.shape[0])

    def subset(self, mask: np.ndarray) -> Duels:
        return Duels(
            self.names,
            self.winner[mask],
            self.loser[mask],
            self.winner_style[mask],
            self.loser_style[mask],
        )


class Standing(TypedDict):
    generator: str
    comparisons: int
    wins: int
    losses: int
    win_rate: float | None
    strength: float | None
    ci_low: float | None
    ci_high: float | None
    styled_strength: float | None
    styled_ci_low: float | None
    styled_ci_high: float | None


class CategoryBoard(TypedDict):
    category: str
    comparisons: int
    standings: list[Standing]


class Leaderboard(TypedDict):
    comparisons: int
    generators: list[Standing]
    win_matrix: list[list[float | None]]  # [i][j]: share of i-vs-j comparisons i won
    matrix_names: list[str]
    style_coefficients: dict[str, float]
    categories: list[CategoryBoard]


def win_matrix(duels: Duels) -> np.ndarray:
    g = len(duels.names)
    counts = np.bincount((duels.winner * g + duels.loser).astype(np.int64), minlength=g * g)
    return counts.reshape(g, g).astype(float)


def style_controlled(
    duels: Duels,
) -> tuple[dict[str, tuple[float, float, float]], dict[str, float]]:
    """({generator: (strength, ci_low, ci_high)}, {feature: coefficient}) from the
    logistic regression with style covariates; strengths centred on 0."""
    g, n = len(duels.names), len(duels)
    if n == 0 or g < 2:
        return {}, {}
    # Orient every comparison by generator index, so both outcomes occur: y = 1 when the
    # lower-indexed generator won.
    first_won = duels.winner < duels.loser
    a = np.where(first_won, duels.winner, duels.loser)
    b = np.where(first_won, duels.loser, duels.winner)
    style_a = np.where(first_won[:, None], duels.winner_style, duels.loser_style)
    style_b = np.where(first_won[:, None], duels.loser_style, duels.winner_style)
    # Normalised differences lie in -1..1 already, so the features share one scale
    # without standardising (which would blow up a nearly constant column).
    style = ((style_a - style_b) / (style_a + style_b + 1.0)).astype(np.float64)
    del style_a, style_b
    y = first_won.astype(np.float64)
    beta = np.zeros(g + style.shape[1])
    hessian = np.eye(len(beta))
    for _ in range(25):
        theta = beta[a] - beta[b] + style @ beta[g:]
        p = 1.0 / (1.0 + np.exp(-theta))
        w = p * (1 - p)
        r = y - p
        grad = np.zeros_like(beta)
        np.add.at(grad, a, r)
        np.add.at(grad, b, -r)
        grad[g:] = style.T @ r
        grad -= RIDGE * beta
        hessian = _information(a, b, style, w, g) + RIDGE * np.eye(len(beta))
        step = np.linalg.solve(hessian, grad)
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    covariance = np.linalg.inv(hessian)
    centre = np.full(g, 1.0 / g)
    out = {}
    for i, name in enumerate(duels.names):
        contrast = -centre.copy()
        contrast[i] += 1.0  # beta_i - mean(beta)
        value = float(contrast @ beta[:g])
        se = float(np.sqrt(max(contrast @ covariance[:g, :g] @ contrast, 0.0)))
        out[name] = (value, value - 1.96 * se, value + 1.96 * se)
    coefficients = {f: float(beta[g + k]) for k, f in enumerate(STYLE_FEATURES)}
    return out, coefficients


def _information(
    a: np.ndarray, b: np.ndarray, style: np.ndarray, w: np.ndarray, g: int
) -> np.ndarray:
    """X^T W X without building X: generator block from weighted pair counts, style block
    from the dense columns, cross terms by scatter-adding."""
    size = g + style.shape[1]
    h = np.zeros((size, size))
    pair = np.bincount(a * g + b, weights=w, minlength=g * g).reshape(g, g)
    h[:g, :g] = -(pair + pair.T)
    np.fill_diagonal(h[:g, :g], pair.sum(axis=1) + pair.sum(axis=0))
    ws = style * w[:, None]
    h[g:, g:] = style.T @ ws
    for k in range(style.shape[1]):
        cross = np.bincount(a, weights=ws[:, k], minlength=g) - np.bincount(
            b, weights=ws[:, k], minlength=g
        )
        h[:g, g + k] = cross
        h[g + k, :g] = cross
    return h


def standings(duels: Duels, *, bootstrap: int = 200, styled: bool = True) -> list[Standing]:
    matrix = win_matrix(duels)
    raw = strengths_from_matrix(duels.names, matrix, bootstrap=bootstrap)
    controlled = style_controlled(duels)[0] if styled else {}
    rows: list[Standing] = []
    for i, name in enumerate(duels.names):
        wins, losses = int(matrix[i].sum()), int(matrix[:, i].sum())
        if wins + losses == 0:
            continue
        s = raw.get(name)
        c = controlled.get(name)
        rows.append(
            {
                "generator": name,
                "comparisons": wins + losses,
                "wins": wins,
                "losses": losses,
                "win_rate": wins / (wins + losses),
                "strength": s.strength if s else None,
                "ci_low": s.ci_low if s else None,
                "ci_high": s.ci_high if s else None,
                "styled_strength": c[0] if c else None,
                "styled_ci_low": c[1] if c else None,
                "styled_ci_high": c[2] if c else None,
            }
        )
    return sorted(rows, key=lambda r: -(r["strength"] or 0.0))


def leaderboard(duels: Duels, *, bootstrap: int = 200) -> Leaderboard:
    """Everything the page and the API show, from one set of comparisons."""
    matrix = win_matrix(duels)
    totals = matrix + matrix.T
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, matrix / np.where(totals > 0, totals, 1), np.nan)
    rows = standings(duels, bootstrap=bootstrap)
    coefficients = style_controlled(duels)[1]
    boards: list[CategoryBoard] = []
    if duels.category is not None:
        for code, category in enumerate(duels.categories):
            mask = duels.category == code
            if mask.sum() == 0:
                continue
            part = duels.subset(mask)
            boards.append(
                {
                    "category": category,
                    "comparisons": len(part),
                    "standings": standings(part, bootstrap=min(bootstrap, 100), styled=False),
                }
            )
    return {
        "comparisons": len(duels),
        "generators": rows,
        "win_matrix": [[None if np.isnan(v) else float(v) for v in row] for row in shares],
        "matrix_names": list(duels.names),
        "style_coefficients": coefficients,
        "categories": boards,
    }
