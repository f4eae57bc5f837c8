"""The escalation rule: Kendall tau-b between tie-group rankings and the split top choice."""

from __future__ import annotations

import pytest
from scipy.stats import kendalltau

from app.annotation.disagreement import (
    EscalationRule,
    kendall_tau_b,
    measure,
    top_choice_split,
)
from app.prompt_sets.ranking import rank_of

RULE = EscalationRule(below_tau=0.5, on_split_top=True)


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([[1], [2], [3], [4]], [[1], [2], [3], [4]]),
        ([[1], [2], [3], [4]], [[4], [3], [2], [1]]),
        ([[1], [2], [3], [4]], [[2], [1], [3], [4]]),
        ([[1, 2], [3], [4]], [[1], [2], [3, 4]]),
        ([[3], [1, 4], [2]], [[1], [3], [2, 4]]),
    ],
)
def test_tau_b_matches_scipy_on_tie_groups(x: list[list[int]], y: list[list[int]]) -> None:
    rx, ry = rank_of(x), rank_of(y)
    ids = sorted(rx)
    expected = kendalltau([rx[i] for i in ids], [ry[i] for i in ids], variant="b").statistic
    assert kendall_tau_b(rx, ry) == pytest.approx(expected)


def test_tau_b_of_a_ranking_that_ties_everything_is_defined() -> None:
    all_tied = rank_of([[1, 2, 3]])
    assert kendall_tau_b(all_tied, all_tied) == 1.0
    assert kendall_tau_b(all_tied, rank_of([[1], [2], [3]])) == 0.0


def test_top_choice_split_needs_a_strict_majority() -> None:
    assert not top_choice_split([[[1], [2]], [[1], [2]], [[2], [1]]])  # 2 of 3 chose 1
    assert top_choice_split([[[1], [2]], [[2], [1]]])  # 1 of 2 each: split
    assert top_choice_split([[[1], [2], [3]], [[2], [1], [3]], [[3], [1], [2]]])
    assert not top_choice_split([[[1, 2], [3]], [[2], [1], [3]]])  # 2 in both first groups
    assert not top_choice_split([[[1], [2]]])  # one ranking cannot split


def test_identical_rankings_are_not_contested() -> None:
    found = measure([[[1], [2], [3], [4]]] * 3)
    assert found.mean_tau == pytest.approx(1.0) and not found.top_split
    assert not found.contested(RULE)


def test_reversed_rankings_are_contested_by_tau_and_by_the_top_choice() -> None:
    found = measure([[[1], [2], [3], [4]], [[4], [3], [2], [1]]])
    assert found.mean_tau == pytest.approx(-1.0) and found.top_split
    assert found.contested(RULE)
    assert found.contested(EscalationRule(below_tau=-1.0, on_split_top=True))  # split alone
    assert not found.contested(EscalationRule(below_tau=-1.0, on_split_top=False))


def test_agreeing_top_with_scrambled_tail_is_contested_by_tau_only() -> None:
    rankings = [[[1], [2], [3], [4]], [[1], [4], [3], [2]], [[1], [3], [4], [2]]]
    found = measure(rankings)
    assert not found.top_split
    assert found.mean_tau is not None and found.mean_tau < 0.5
    assert found.contested(RULE)
    assert not found.contested(EscalationRule(below_tau=found.mean_tau, on_split_top=True))


def test_fewer_than_two_rankings_are_never_contested() -> None:
    assert measure([]).mean_tau is None and not measure([]).contested(RULE)
    assert not measure([[[1], [2]]]).contested(EscalationRule(below_tau=1.0, on_split_top=True))
