"""The fast reward model's pieces without a database or a model: head, evaluation,
uncertainty and priorities, options, charts."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from app.reward import charts, evaluation, routing
from app.reward.errors import InvalidRewardOptions
from app.reward.head import Scored, fit_head, pair_accuracy, prompt_bootstrap_rows
from app.reward.schemas import parse_options


def _planted(
    n_pairs: int, dim: int = 16, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs whose preferred item is the one further along a hidden direction."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=dim)
    a, b = rng.normal(size=(n_pairs, dim)), rng.normal(size=(n_pairs, dim))
    a_wins = (a - b) @ direction > 0
    chosen = np.where(a_wins[:, None], a, b)
    rejected = np.where(a_wins[:, None], b, a)
    return chosen, rejected, direction


def test_head_learns_a_planted_preference_and_generalises() -> None:
    chosen, rejected, _ = _planted(600)
    validation = np.arange(600) % 5 == 0
    head = fit_head(
        chosen[:400], rejected[:400], np.ones(400), validation[:400], ensemble=3, seed=0
    )
    assert head.weights.shape == (4, 16)
    assert str(head.c) in head.validation_accuracy
    held_out = (chosen[400:] - rejected[400:]) @ head.weights[0]
    assert pair_accuracy(held_out).mean() > 0.9
    score, spread = head.scores(chosen[400:])
    assert score.shape == spread.shape == (200,) and (spread >= 0).all()


def test_pair_accuracy_counts_an_exact_tie_as_half() -> None:
    assert pair_accuracy(np.array([1.0, 0.0, -2.0])).tolist() == [1.0, 0.5, 0.0]


def test_accuracy_ci_resamples_prompts_and_brackets_the_estimate() -> None:
    correct = np.array([1, 1, 0, 1, 1, 0, 1, 1], dtype=float)
    prompts = np.array([1, 1, 2, 2, 3, 3, 4, 4])
    out = evaluation.accuracy_with_ci(correct, np.ones(8), prompts)
    assert out["accuracy"] == 0.75 and out["prompts"] == 4
    low, high = out["ci95"]
    assert low <= 0.75 <= high and low >= 0.5
    assert evaluation.accuracy_with_ci(np.array([]), np.array([]), np.array([]))["accuracy"] is None


def test_learning_curve_sizes_grow_to_every_training_pair() -> None:
    sizes = evaluation.curve_sizes(1000)
    assert sizes[0] == 16 and sizes[-1] == 1000 and sizes == sorted(set(sizes))
    assert evaluation.curve_sizes(10) == [10] and evaluation.curve_sizes(0) == []


@pytest.mark.parametrize(
    ("scores", "human", "expected"),
    [
        ({1: (5.0, 0.1), 2: (-5.0, 0.1)}, [], pytest.approx(0.0, abs=0.02)),  # sure and agreed
        ({1: (0.0, 0.1), 2: (0.0, 0.1)}, [], 1.0),  # cannot tell them apart
        ({1: (5.0, 0.0), 2: (-5.0, 0.0)}, [(2, 1)], 1.0),  # humans say the opposite
        ({1: (1.0, 0.0)}, [], None),  # one scored candidate: unknown
        # Heads (4, 0) and (2, -2): each candidate's spread is 2, but every head puts
        # candidate 1 exactly 2 ahead: the gap's spread is 0, u is the margin alone,
        # 1 - tanh(2 / 2) = 0.23841 (hypot(2, 2) / 2 = 1 said "the ensemble disagrees").
        (
            {1: Scored(2.0, 2.0, (4.0, 0.0)), 2: Scored(0.0, 2.0, (2.0, -2.0))},
            [],
            pytest.approx(0.23841, abs=1e-5),
        ),
        # Head gaps (6, 0): sd 3 around the gap 3, so 2 Phi(-3 / 3) = 2 * 0.158655 = 0.31731
        # (the margin, 1 - tanh(1.5) = 0.0949, is smaller).
        (
            {1: Scored(3.0, 3.0, (6.0, 0.0)), 2: Scored(0.0, 0.0, (0.0, 0.0))},
            [],
            pytest.approx(0.31731, abs=1e-5),
        ),
        # Rows stored without per-head scores: hypot(3, 4) = 5, 2 Phi(-3 / 5) = 0.54851.
        ({1: (3.0, 3.0), 2: (0.0, 4.0)}, [], pytest.approx(0.54851, abs=1e-5)),
    ],
)
def test_uncertainty_signals(scores, human, expected) -> None:
    assert routing.uncertainty(scores, human) == expected


def test_bootstrap_heads_resample_prompts_not_pairs() -> None:
    # Prompts 7 (two pairs) and 9 (one pair); rows 0..2 are the pairs, 3..5 their mirrors.
    pair_prompt = np.array([7, 7, 9])
    row_pair = np.array([0, 1, 2, 0, 1, 2])
    for seed in range(20):
        rows = prompt_bootstrap_rows(pair_prompt, row_pair, np.random.default_rng(seed))
        drawn = Counter(pair_prompt[row_pair[rows]].tolist())
        # Two prompts drawn in all; a drawn prompt brings every row of its pairs, so
        # prompt 7 contributes 4 rows per draw and prompt 9 two.
        assert drawn[7] % 4 == 0 and drawn[9] % 2 == 0
        assert drawn[7] // 4 + drawn[9] // 2 == 2


def test_priorities_put_the_least_certain_first_and_unscored_before_all() -> None:
    sure = routing._priority_from(0.0)
    unsure = routing._priority_from(0.9)
    assert routing._priority_from(None) == 0 < unsure < sure == routing.MAX_PRIORITY
    values = {routing.random_priority(1, f"{i:064d}") for i in range(200)}
    assert len(values) > 190 and min(values) >= 1 and max(values) < routing.MAX_PRIORITY


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"kind": "huge"}, "kind", "'fast' or 'full'"),
        ({"test_fraction": 1.5}, "test_fraction", "less than 1"),
        ({"ensemble": 0}, "ensemble", "greater than or equal to 1"),
        ({"pooling": "max"}, "pooling", "'last' or 'mean'"),
        ({"learning_rat": 0.1}, "learning_rat", "unknown option 'learning_rat'"),
    ],
)
def test_bad_training_options_name_the_field(options, field, message) -> None:
    with pytest.raises(InvalidRewardOptions) as caught:
        parse_options(options)
    assert caught.value.status == 422
    assert caught.value.errors[0]["field"] == field
    assert message in caught.value.errors[0]["message"]


def test_learning_curve_chart_has_a_point_per_size_and_the_human_references() -> None:
    points = [
        {"comparisons": n, "accuracy": a, "ci95": [a - 0.05, a + 0.05]}
        for n, a in ((16, 0.6), (64, 0.7), (256, 0.8))
    ]
    guides = {"inter-annotator agreement": 0.62, "majority of the other annotators": 0.85}
    chart = charts.learning_curve_chart(points, guides)
    assert len(chart["dots"]) == 3
    assert [g["name"] for g in chart["guides"]] == list(guides)
    ys = [d["y"] for d in chart["dots"]]
    assert ys == sorted(ys, reverse=True)  # higher accuracy is drawn higher
    assert charts.learning_curve_chart([], {}) is None
