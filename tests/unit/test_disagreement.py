"""The escalation rule: Kendall tau-b between tie-group rankings and the split top choice."""

from __future__ import annotations

import pytest

from app.annotation.disagreement import (
    EscalationRule,
    kendall_tau_b,
    measure,
    top_choice_split,
)
from app.prompt_sets.ranking import rank_of

RULE = EscalationRule(below_tau=0.5, on_split_top=True)


# Worked by hand over the pairs of candidates: C concordant, D discordant, and Tx, Ty the
# pairs tied in x or in y out of P; tau-b = (C - D) / sqrt((P - Tx) * (P - Ty)).
@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ([[1], [2], [3], [4]], [[1], [2], [3], [4]], 1.0),  # C 6, D 0
        ([[1], [2], [3], [4]], [[4], [3], [2], [1]], -1.0),  # C 0, D 6
        ([[1], [2], [3], [4]], [[2], [1], [3], [4]], 4 / 6),  # C 5, D 1
        # C 4, D 0; 1-2 tied in x, 3-4 tied in y: 4 / sqrt(5 * 5)
        ([[1, 2], [3], [4]], [[1], [2], [3, 4]], 0.8),
        # C 3 (1-2, 2-3, 3-4), D 1 (1-3); 1-4 tied in x, 2-4 in y: 2 / sqrt(5 * 5)
        ([[3], [1, 4], [2]], [[1], [3], [2, 4]], 0.4),
        # Only the candidates both rank: 2 and 3, in opposite orders.
        ([[1], [2], [3]], [[3], [2], [4]], -1.0),
    ],
)
def test_tau_b_on_tie_groups_worked_by_hand(
    x: list[list[int]], y: list[list[int]], expected: float
) -> None:
    assert kendall_tau_b(rank_of(x), rank_of(y)) == pytest.approx(expected)


def test_tau_b_where_it_is_undefined_follows_the_documented_rule() -> None:
    # scipy gives NaN for these; the module docstring says what they count.
    all_tied = rank_of([[1, 2, 3]])
    assert kendall_tau_b(all_tied, all_tied) == 1.0
    assert kendall_tau_b(all_tied, rank_of([[1], [2], [3]])) == 0.0
    assert kendall_tau_b(rank_of([[1], [2], [3]]), all_tied) == 0.0
    assert kendall_tau_b(rank_of([[1], [2]]), rank_of([[2], [3]])) == 1.0  # one in common


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


def test_tau_b_agrees_with_scipy_on_random_tie_group_rankings() -> None:
    # scipy is the reference; the module keeps its own loop for speed (its docstring).
    import random

    from scipy.stats import kendalltau

    rng = random.Random(20)
    checked = 0
    for _ in range(300):
        ids = list(range(1, rng.randint(2, 8) + 1))
        x = {c: rng.randint(1, 4) for c in ids}
        y = {c: rng.randint(1, 4) for c in ids}
        if len(set(x.values())) < 2 or len(set(y.values())) < 2:
            continue  # undefined in scipy (NaN): the documented rule, tested above
        expected = kendalltau(list(x.values()), list(y.values()), variant="b").statistic
        assert kendall_tau_b(x, y) == pytest.approx(expected)
        checked += 1
    assert checked > 200
