"""The Bradley-Terry fit behind the strength intervals (app/analytics/strength.py)."""

from __future__ import annotations


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
