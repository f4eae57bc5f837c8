"""Agreement and strength math on hand-worked examples."""

from __future__ import annotations

import random

import pytest

from app.analytics.agreement import (
    alpha_ordinal,
    annotator_agreement,
    leave_one_out_agreement,
    pair_agreements,
    pair_consensus,
    pairwise_agreement_rate,
)
from app.analytics.strength import bradley_terry, model_standings, win_rates
from app.analytics.votes import Vote, votes_from_ranking


def test_votes_from_a_ranking_with_a_tie() -> None:
    votes = votes_from_ranking(7, 1, [[3], [1, 2]])
    assert votes == [Vote(7, 1, 1, 2, 0), Vote(7, 1, 1, 3, -1), Vote(7, 1, 2, 3, -1)]


def _three_annotators() -> list[Vote]:
    # Prompt 1, candidates 10/11/12. Annotators 1 and 2 agree fully; 3 reverses 10 vs 11.
    return (
        votes_from_ranking(1, 1, [[10], [11], [12]])
        + votes_from_ranking(1, 2, [[10], [11], [12]])
        + votes_from_ranking(1, 3, [[11], [10, 12]])
    )


def test_pair_consensus_counts_votes_and_majority() -> None:
    tallies = pair_consensus(_three_annotators())
    assert tallies[(1, 10, 11)].a_wins == 2 and tallies[(1, 10, 11)].b_wins == 1
    assert tallies[(1, 10, 11)].majority == 1
    assert tallies[(1, 10, 11)].agreement == pytest.approx(2 / 3)
    # 10 vs 12: two say 10 better, one says tie.
    assert (tallies[(1, 10, 12)].a_wins, tallies[(1, 10, 12)].ties) == (2, 1)
    assert tallies[(1, 11, 12)].a_wins == 3 and tallies[(1, 11, 12)].agreement == 1.0


def test_no_majority_when_the_top_is_shared() -> None:
    votes = votes_from_ranking(1, 1, [[10], [11]]) + votes_from_ranking(1, 2, [[11], [10]])
    assert pair_consensus(votes)[(1, 10, 11)].majority is None


def test_pair_agreements_of_one_prompt_are_the_consensus_shares() -> None:
    rankings = [[[10], [11], [12]], [[10], [11], [12]], [[11], [10, 12]]]
    assert pair_agreements(rankings) == {
        (10, 11): pytest.approx(2 / 3),
        (10, 12): pytest.approx(2 / 3),
        (11, 12): 1.0,
    }
    assert pair_agreements([[[1, 2]]]) == {(1, 2): 1.0}
    assert pair_agreements([]) == {}


def _random_ranking(rng: random.Random, ids: list[int]) -> list[list[int]]:
    groups: list[list[int]] = []
    for cid in rng.sample(ids, len(ids)):
        if groups and rng.random() < 0.3:
            groups[-1].append(cid)
        else:
            groups.append([cid])
    return groups


def test_pair_agreements_match_pair_consensus_on_random_rankings_with_ties() -> None:
    # pair_agreements is the exports' per-prompt shortcut; it must give the same shares.
    rng = random.Random(7)
    for prompt_id in range(200):
        ids = rng.sample(range(1, 50), rng.randint(2, 6))
        rankings = [_random_ranking(rng, ids) for _ in range(rng.randint(1, 5))]
        votes = [v for i, r in enumerate(rankings) for v in votes_from_ranking(prompt_id, i, r)]
        expected = {(a, b): t.agreement for (_, a, b), t in pair_consensus(votes).items()}
        assert pair_agreements(rankings) == expected


def test_annotator_agreement_is_leave_one_out() -> None:
    scores = annotator_agreement(_three_annotators())
    # For annotator 1, the others (2 and 3) split on 10-vs-11 and 10-vs-12: those don't count.
    assert (scores[1].agree, scores[1].total) == (1, 1)
    # Annotator 3 disagrees on 10-vs-11 and 10-vs-12, agrees on 11-vs-12.
    assert (scores[3].agree, scores[3].total) == (1, 3)
    assert scores[3].rate == pytest.approx(1 / 3)


def test_agreement_ceiling_asks_the_other_annotators_of_the_prompt() -> None:
    # Prompt 1: annotators 10 and 11 put candidate 1 first, 12 ties 1 and 2.
    # Prompt 2: annotator 20 alone.
    rankings = {
        1: [(10, {1: 0, 2: 1}), (11, {1: 0, 2: 1}), (12, {1: 0, 2: 0})],
        2: [(20, {5: 0, 6: 1})],
    }
    pairs = [
        (1, 10, 1, 2),  # others: 11 agrees (1), 12 ties (0.5) -> 0.75
        (1, 12, 2, 1),  # others: 10 and 11 disagree -> 0.0
        (2, 20, 5, 6),  # nobody else: not counted
        (1, 10, 1, 9),  # candidate 9 unranked by the others: not counted
    ]
    assert leave_one_out_agreement(pairs, rankings) == (0.375, 2)
    assert leave_one_out_agreement(pairs[2:], rankings) == (None, 0)


def test_pairwise_agreement_rate() -> None:
    # Per pair, 3 annotator pairs: (10,11): 1 same; (10,12): 1 same; (11,12): 3 same.
    assert pairwise_agreement_rate(_three_annotators()) == pytest.approx(5 / 9)
    assert pairwise_agreement_rate(votes_from_ranking(1, 1, [[10], [11]])) is None


def test_alpha_is_one_for_identical_rankings_and_lower_for_disagreement() -> None:
    same = {
        1: {1: {10: 1, 11: 2, 12: 3}, 2: {10: 1, 11: 2, 12: 3}},
        2: {1: {20: 2, 21: 1}, 2: {20: 2, 21: 1}},
    }
    assert alpha_ordinal(same) == pytest.approx(1.0)
    mixed = {
        1: {1: {10: 1, 11: 2, 12: 3}, 2: {10: 3, 11: 2, 12: 1}},
        2: {1: {20: 2, 21: 1}, 2: {20: 1, 21: 2}},
    }
    assert alpha_ordinal(mixed) < 0.5
    assert alpha_ordinal({1: {1: {10: 1, 11: 2}}}) is None  # one annotator: undefined


def test_win_rates_ignore_self_pairs() -> None:
    rates = win_rates([("big", "small")] * 3 + [("small", "big"), ("big", "big")])
    assert (rates["big"].wins, rates["big"].losses) == (3, 1)
    assert rates["small"].rate == pytest.approx(0.25)


def test_bradley_terry_orders_models_and_brackets_the_estimate() -> None:
    pairs = [("a", "b")] * 30 + [("b", "a")] * 10 + [("b", "c")] * 30 + [("c", "b")] * 10
    strengths = bradley_terry(pairs, bootstrap=50)
    assert strengths["a"].strength > strengths["b"].strength > strengths["c"].strength
    for s in strengths.values():
        assert s.ci_low <= s.strength <= s.ci_high
    assert bradley_terry([("a", "a")]) == {}


def test_model_standings_put_win_rates_and_strengths_in_one_table_strongest_first() -> None:
    rows = model_standings([("big", "small")] * 3 + [("small", "big")])
    assert [(r["model"], r["wins"], r["losses"], r["win_rate"]) for r in rows] == [
        ("big", 3, 1, 0.75),
        ("small", 1, 3, 0.25),
    ]
    best, worst = rows
    assert best["strength"] > 0 > worst["strength"]
    low, high = best["ci_low"], best["ci_high"]
    assert low is not None and high is not None and low <= best["strength"] <= high
    assert model_standings([]) == []
