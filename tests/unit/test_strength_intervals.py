"""Bootstrap intervals are cached per data version and refreshed in the background."""

from __future__ import annotations

import time

from app.analytics import intervals
from app.analytics.strength import bradley_terry


def test_intervals_are_cached_per_version_and_refreshed_off_the_request() -> None:
    set_id = -16  # a set id no other test uses: the cache is per process
    wins = {("big", "small"): 30, ("small", "big"): 10}
    first = intervals.strengths(set_id, wins)
    assert first.current and first.as_of is not None
    assert first.strengths == bradley_terry(wins)
    assert intervals.strengths(set_id, wins) == first  # cached: same time, same numbers

    more = {("big", "small"): 60, ("small", "big"): 10}
    stale = intervals.strengths(set_id, more)
    assert not stale.current and stale.as_of == first.as_of
    # The point estimates are for the new counts; the intervals still the old ones.
    assert stale.strengths["big"].strength == bradley_terry(more, bootstrap=0)["big"].strength
    assert stale.strengths["big"].ci_low == first.strengths["big"].ci_low
    deadline = time.monotonic() + 30
    while not (fresh := intervals.strengths(set_id, more)).current:
        assert time.monotonic() < deadline, "the background refresh never finished"
        time.sleep(0.05)
    assert fresh.strengths == bradley_terry(more)
    assert fresh.as_of is not None and first.as_of is not None and fresh.as_of >= first.as_of


def test_the_fit_is_choix_i_lsr_without_its_warning_filters() -> None:
    import choix
    import numpy as np

    from app.analytics.strength import _fit

    # Hand-picked win matrices: balanced, lopsided, one model that never wins.
    for matrix in (
        np.array([[0.0, 30.0], [10.0, 0.0]]),
        np.array([[0.0, 5.0, 9.0], [1.0, 0.0, 4.0], [0.0, 2.0, 0.0]]),
        np.array(
            [[0.0, 3.0, 1.0, 7.0], [0.0, 0.0, 0.0, 0.0], [2.0, 6.0, 0.0, 1.0], [1.0, 4.0, 5.0, 0.0]]
        ),
    ):
        expected = choix.ilsr_pairwise_dense(matrix, alpha=0.01)
        np.testing.assert_allclose(_fit(matrix), expected - expected.mean(), atol=1e-12)
