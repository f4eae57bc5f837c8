"""A ranking is a permutation in tie groups; comparisons follow from it."""

from __future__ import annotations

import pytest

from app.prompt_sets.ranking import (
    DerivedComparison,
    RankingInvalid,
    derive_comparisons,
    rank_of,
    tied_pairs,
    validate_ranking,
)

CANDIDATES = [11, 12, 13, 14]
LABELS = {11: "A", 12: "B", 13: "C", 14: "D"}


def test_valid_ranking_with_a_tie_passes() -> None:
    assert validate_ranking([[13], [11, 14], [12]], CANDIDATES) == [[13], [11, 14], [12]]


@pytest.mark.parametrize(
    ("ranking", "message"),
    [
        ([], "The ranking is empty"),
        (None, "The ranking is empty"),
        ([[11], [12], [13]], "response D has no rank"),
        ([[11], [12, 11], [13], [14]], "response A is ranked more than once"),
        ([[11], [12], [13], [14, 99]], "candidate 99 is not a response to this prompt"),
        ([[11], [], [12, 13, 14]], "rank 2 is an empty group"),
        ([[11], ["x"], [12, 13, 14]], "'x' is not a candidate id"),
        ([[11], [True], [12, 13, 14]], "True is not a candidate id"),
    ],
)
def test_invalid_rankings_say_what_is_wrong(ranking, message: str) -> None:
    with pytest.raises(RankingInvalid) as info:
        validate_ranking(ranking, CANDIDATES, LABELS)
    assert message in info.value.message
    assert info.value.status == 422


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(RankingInvalid) as info:
        validate_ranking([[11, 11], [99]], CANDIDATES, LABELS)
    assert [e["message"] for e in info.value.errors] == [
        "response A is ranked more than once",
        "candidate 99 is not a response to this prompt",
        "response B has no rank",
        "response C has no rank",
        "response D has no rank",
    ]


def test_comparisons_skip_ties_and_carry_group_distance() -> None:
    comparisons = derive_comparisons([[13], [11, 14], [12]])
    assert sorted(comparisons, key=lambda c: (c.chosen_id, c.rejected_id)) == [
        DerivedComparison(11, 12, 1),
        DerivedComparison(13, 11, 1),
        DerivedComparison(13, 12, 2),
        DerivedComparison(13, 14, 1),
        DerivedComparison(14, 12, 1),
    ]


def test_full_tie_gives_no_comparisons() -> None:
    assert derive_comparisons([[11, 12, 13]]) == []
    assert tied_pairs([[13, 11, 12]]) == [(11, 12), (11, 13), (12, 13)]


def test_rank_of_shares_ranks_within_a_tie() -> None:
    assert rank_of([[13], [11, 14], [12]]) == {13: 1, 11: 2, 14: 2, 12: 3}
