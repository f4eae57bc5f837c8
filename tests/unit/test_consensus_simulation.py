"""Reliability-weighted consensus on simulated annotators of known reliability (issue 13:
"weighted consensus on the simulation"), through the export's own fit and row builder."""

from __future__ import annotations

import math

import pytest

from app.analytics.agreement import PairTally
from app.analytics.reliability import (
    MAX_ITERATIONS,
    TOLERANCE,
    VoteTable,
    fit_reliability,
    reliability_weight,
)
from app.exports.formats import weighted_row
from tests.support.consensus_simulation import MIXES, recovery, simulate, vote_table

SEED = 7


def test_reliability_beats_majority_by_a_clear_margin_with_adversaries():
    result = recovery(simulate(SEED, MIXES["with adversaries"]))
    assert result.pairs == 1200
    assert result.majority < 0.75
    assert result.reliability > 0.9
    assert result.reliability - result.majority > 0.2


def test_reliability_beats_majority_with_random_annotators():
    result = recovery(simulate(SEED, MIXES["good + random"]))
    assert result.reliability - result.majority > 0.03


def test_reliability_equals_or_beats_majority_when_everyone_is_good():
    result = recovery(simulate(SEED, MIXES["all good"]))
    assert result.majority > 0.95
    assert result.reliability >= result.majority


def test_fitted_skills_sort_annotators_by_kind():
    sim = simulate(SEED, MIXES["with adversaries"])
    fitted = fit_reliability(vote_table(sim))
    by_kind: dict[str, list[float]] = {}
    for uid, r in fitted.items():
        by_kind.setdefault(sim.kinds[uid], []).append(r.weight)
    assert min(by_kind["good"]) > 1.0
    assert max(by_kind["adversarial"]) < -1.0
    assert all(abs(w) < 1.0 for w in by_kind["random"])


@pytest.mark.parametrize("mix", sorted(MIXES))
def test_fit_gives_crowd_kits_one_coin_skills(mix: str) -> None:
    """The numpy EM is crowd-kit's OneCoinDawidSkene as the app called it before issue 22
    (same initialisation, steps and stopping rule): the same skills to rounding."""
    import pandas as pd
    from crowdkit.aggregation import OneCoinDawidSkene

    table = vote_table(simulate(SEED, MIXES[mix]))
    annotators, tasks, labels = table.columns()
    frame = pd.DataFrame({"task": tasks, "worker": annotators, "label": labels})
    reference = OneCoinDawidSkene(n_iter=MAX_ITERATIONS, tol=TOLERANCE).fit(frame).skills_
    fitted = fit_reliability(table)
    assert sorted(fitted) == sorted(int(w) for w in reference.index)
    assert max(abs(fitted[int(w)].skill - s) for w, s in reference.items()) < 1e-12
    votes = frame["worker"].value_counts()
    assert {w: r.votes for w, r in fitted.items()} == {int(w): int(n) for w, n in votes.items()}


def test_weight_is_shrunk_log_odds_and_few_votes_weigh_little():
    assert reliability_weight(0.5, 100) == 0.0
    assert reliability_weight(0.9, 1000) == pytest.approx(math.log(0.8984 / 0.1016), abs=0.01)
    assert reliability_weight(1.0, 2) < reliability_weight(0.95, 200)
    assert reliability_weight(0.0, 100) == pytest.approx(-reliability_weight(1.0, 100))


def test_vote_table_keeps_which_side_of_a_pair_won():
    table = VoteTable().extend([(1, 10, 20), (2, 20, 10)])
    annotators, tasks, labels = table.columns()
    assert list(annotators) == [1, 2]
    assert tasks[0] == tasks[1] == (10 << 32) | 20
    assert list(labels) == [0, 1]
    assert fit_reliability(VoteTable()) == {}


def test_weighted_row_picks_the_side_the_weights_favour():
    tally = PairTally(a_wins=1, b_wins=2, ties=0, n=3, majority=-1, agreement=2 / 3)
    assert weighted_row(tally, 5, 9, 2.0) == (5, 9, 1, 2, True, pytest.approx(1 / (1 + math.e**-2)))
    assert weighted_row(tally, 5, 9, -2.0)[:5] == (9, 5, 2, 1, True)
    assert weighted_row(tally, 5, 9, 0.0) is None
