"""Leaderboard numbers on hand-built comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from app.analytics.leaderboard import Duels, leaderboard, style_of

LONG = style_of("## Answer\n\n" + "- a **point** that goes on\n" * 30)
SHORT = style_of("A short plain answer.")
MEDIUM = style_of("A medium answer. " * 20)


def _duels(rows: list[tuple[int, int, tuple, tuple, int]], categories=()) -> Duels:
    """rows: (winner, loser, winner style, loser style, count)."""
    winner, loser, ws, ls, cat = [], [], [], [], []
    for i, (w, lo, w_style, l_style, count) in enumerate(rows):
        winner += [w] * count
        loser += [lo] * count
        ws += [w_style] * count
        ls += [l_style] * count
        cat += [i % max(len(categories), 1)] * count
    return Duels(
        ["long", "plain"],
        np.array(winner, dtype=np.int64),
        np.array(loser, dtype=np.int64),
        np.array(ws, dtype=np.float32).reshape(-1, 4),
        np.array(ls, dtype=np.float32).reshape(-1, 4),
        np.array(cat) if categories else None,
        tuple(categories),
    )


def test_style_of_counts_length_headers_lists_and_bold() -> None:
    assert style_of("# T\n\n- a\n- b\n1. c\n**x** and __y__") == (33.0, 1.0, 3.0, 2.0)


def test_the_longer_generator_wins_raw_but_not_style_controlled() -> None:
    # When "long" writes long, decorated answers against plain short ones it wins 80%;
    # when both write the same plain medium answers, "plain" wins 60%.
    duels = _duels(
        [
            (0, 1, LONG, SHORT, 240),
            (1, 0, SHORT, LONG, 60),
            (0, 1, MEDIUM, MEDIUM, 120),
            (1, 0, MEDIUM, MEDIUM, 180),
        ]
    )
    board = leaderboard(duels, bootstrap=50)
    rows = {r["generator"]: r for r in board["generators"]}
    assert rows["long"]["wins"] == 360 and rows["plain"]["wins"] == 240
    assert rows["long"]["win_rate"] == pytest.approx(0.6)
    assert rows["long"]["strength"] > rows["plain"]["strength"]  # raw: long looks better
    assert rows["long"]["ci_low"] > 0  # and confidently so
    assert rows["plain"]["styled_strength"] > rows["long"]["styled_strength"]  # controlled
    # At equal style plain wins 60%: log-odds log(1.5), split around zero.
    assert rows["plain"]["styled_strength"] == pytest.approx(np.log(1.5) / 2, abs=0.05)
    assert rows["plain"]["styled_ci_low"] < rows["plain"]["styled_strength"]
    assert sum(board["style_coefficients"].values()) > 0  # style pays
    assert board["win_matrix"] == [[None, 0.6], [0.4, None]]


def test_categories_get_their_own_standings() -> None:
    duels = _duels(
        [(0, 1, MEDIUM, MEDIUM, 30), (1, 0, MEDIUM, MEDIUM, 10)], categories=("code", "chat")
    )
    board = leaderboard(duels, bootstrap=20)
    by_category = {b["category"]: b for b in board["categories"]}
    assert by_category["code"]["comparisons"] == 30
    code = by_category["code"]["standings"]
    assert [(r["generator"], r["wins"]) for r in code] == [("long", 30), ("plain", 0)]
    assert by_category["chat"]["standings"][0]["generator"] == "plain"


def test_no_comparisons_gives_an_empty_board() -> None:
    board = leaderboard(_duels([]), bootstrap=10)
    assert board["generators"] == [] and board["comparisons"] == 0
