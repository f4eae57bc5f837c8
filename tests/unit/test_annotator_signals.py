"""Bias and spam signals on constructed annotators: each flags the annotator who shows the
behaviour and leaves alone the ones who don't (app.analytics.signals)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from app.analytics.annotators import GoldTally
from app.analytics.loaders import SignalRow
from app.analytics.signals import (
    MIN_ITEMS,
    AgreementCounts,
    AnnotatorSignals,
    annotator_signals,
    flagged_annotators,
    wilson_upper,
)
from app.annotation.assignment import candidate_order

PROMPTS = 60
CANDIDATES = 4
SET_ID = 1
# Characters per prompt: varied, so speed is judged per character, not per item.
LONG_TEXT = [1500 + 97 * (p % 20) for p in range(PROMPTS)]

Rank = Callable[[list[int], random.Random], list[list[int]]]


def _ids(prompt_id: int) -> list[int]:
    return [prompt_id * 10 + i for i in range(CANDIDATES)]


def fair(shown: list[int], rng: random.Random) -> list[list[int]]:
    order = shown[:]
    rng.shuffle(order)
    return [[c] for c in order]


def first_shown_first(shown: list[int], rng: random.Random) -> list[list[int]]:
    rest = shown[1:]
    rng.shuffle(rest)
    return [[shown[0]]] + [[c] for c in rest]


def same_pattern(shown: list[int], rng: random.Random) -> list[list[int]]:
    # Always the second shown best, then the first, third and fourth: one pattern, and the
    # first shown is never first (no position bias).
    return [[shown[1]], [shown[0]], [shown[2]], [shown[3]]]


def as_shown(shown: list[int], rng: random.Random) -> list[list[int]]:
    return [[c] for c in shown]


def rows(
    annotator_id: int,
    rank: Rank = fair,
    *,
    seconds_per_1000: float = 30.0,
    chars: list[int] | None = None,
    order_changed: bool | None = True,
    prompts: int = PROMPTS,
    suggestion_shown: bool = False,
) -> list[SignalRow]:
    rng = random.Random(annotator_id)
    out = []
    for p in range(1, prompts + 1):
        shown = candidate_order(annotator_id, p, _ids(p))
        n_chars = (chars or LONG_TEXT)[(p - 1) % PROMPTS]
        seconds = seconds_per_1000 * n_chars / 1000 * rng.lognormvariate(0, 0.25)
        out.append(
            SignalRow(
                annotator_id,
                SET_ID,
                p,
                rank(shown, rng),
                seconds,
                n_chars,
                order_changed,
                suggestion_shown,
            )
        )
    return out


def crowd(*extra: list[SignalRow], honest: int = 5) -> list[SignalRow]:
    """Honest annotators 1..honest plus the extra ones, interleaved by prompt (as they
    would be in submission order)."""
    streams = [rows(a) for a in range(1, honest + 1)] + list(extra)
    return [r for batch in zip(*streams, strict=False) for r in batch] + [
        r for s in streams for r in s[min(len(x) for x in streams) :]
    ]


def signals_of(
    all_rows: list[SignalRow],
    agreement: dict[int, AgreementCounts] | None = None,
    gold: dict[int, GoldTally] | None = None,
) -> dict[int, AnnotatorSignals]:
    return annotator_signals(all_rows, agreement or {}, gold or {})


def flagged(result: dict[int, AnnotatorSignals], annotator_id: int) -> set[str]:
    return {s.key for s in result[annotator_id].flagged_signals}


def signal(result: dict[int, AnnotatorSignals], annotator_id: int, key: str):
    return next(s for s in result[annotator_id].signals if s.key == key)


def test_honest_crowd_is_not_flagged() -> None:
    result = signals_of(crowd(honest=8))
    assert flagged_annotators(result) == []
    for a in range(1, 9):
        bias = signal(result, a, "position_bias")
        assert bias.enough_data and bias.numbers["items"] == PROMPTS
        assert bias.numbers["chance"] == pytest.approx(1 / CANDIDATES)


def test_position_bias_flags_who_ranks_the_first_shown_first() -> None:
    result = signals_of(crowd(rows(90, first_shown_first)))
    assert flagged(result, 90) == {"position_bias"}
    bias = signal(result, 90, "position_bias")
    assert bias.value == 1.0
    assert bias.numbers["first shown ranked first"] == PROMPTS
    assert bias.numbers["chance"] == pytest.approx(0.25)
    assert bias.numbers["p"] < 1e-10
    assert not signal(result, 1, "position_bias").flagged


def test_position_bias_chance_counts_ties() -> None:
    # Everything in two tie groups of two: the first shown is "first" half the time.
    def two_groups(shown: list[int], rng: random.Random) -> list[list[int]]:
        order = shown[:]
        rng.shuffle(order)
        return [sorted(order[:2]), sorted(order[2:])]

    result = signals_of(crowd(rows(91, two_groups)))
    bias = signal(result, 91, "position_bias")
    assert bias.numbers["chance"] == pytest.approx(0.5)
    assert not bias.flagged


def test_untouched_order_flags_who_sends_the_order_shown() -> None:
    result = signals_of(crowd(rows(92, as_shown, order_changed=False)))
    assert "untouched_order" in flagged(result, 92)
    untouched = signal(result, 92, "untouched_order")
    assert untouched.value == 1.0 and untouched.numbers["sent as shown"] == PROMPTS
    assert untouched.numbers["chance"] == pytest.approx(1 / 24)
    assert not signal(result, 1, "untouched_order").flagged


def test_untouched_order_unknown_is_not_counted() -> None:
    result = signals_of(crowd(rows(93, as_shown, order_changed=None)))
    untouched = signal(result, 93, "untouched_order")
    assert untouched.numbers["items"] == 0 and not untouched.flagged
    assert not untouched.enough_data


def test_too_fast_for_the_text_is_flagged_but_a_fast_reader_of_short_texts_is_not() -> None:
    short = [200 + 11 * (p % 7) for p in range(PROMPTS)]
    result = signals_of(
        crowd(
            rows(94, seconds_per_1000=2.0),  # long texts in a few seconds
            rows(95, seconds_per_1000=30.0, chars=short),  # short texts, quickly, same pace
        )
    )
    assert flagged(result, 94) == {"too_fast"}
    fast = signal(result, 94, "too_fast")
    assert fast.value is not None and fast.value < -3
    assert fast.numbers["their s/1000 chars"] < 3
    assert 20 < fast.numbers["typical s/1000 chars"] < 40
    reader = signal(result, 95, "too_fast")
    assert not reader.flagged and reader.value is not None and abs(reader.value) < 1.5
    # Slow is not a spam signal.
    slow = signals_of(crowd(rows(96, seconds_per_1000=300.0)))
    assert not signal(slow, 96, "too_fast").flagged


def timed(annotator_id: int, log_rates: list[float], first_prompt: int = 1) -> list[SignalRow]:
    """Items of 1000 characters read at exp(log rate) seconds each."""
    return [
        SignalRow(annotator_id, SET_ID, p, [[p * 10], [p * 10 + 1]], math.exp(v), 1000, True, False)
        for p, v in enumerate(log_rates, start=first_prompt)
    ]


def test_speed_z_is_the_median_and_mad_of_the_sets_log_rates_worked_by_hand() -> None:
    # 30 log rates in the set: ten each of -3, 0 and 1. Median 0; absolute deviations ten
    # each of 3, 0 and 1, so MAD 1 (their mean, 4/3, or the SD would give other z) and the
    # robust SD 1.4826 * 1.
    result = signals_of(timed(1, [0.0] * 10) + timed(2, [1.0] * 10) + timed(3, [-3.0] * 10))
    assert signal(result, 1, "too_fast").value == pytest.approx(0.0, abs=1e-9)
    assert signal(result, 2, "too_fast").value == pytest.approx(1 / 1.4826, rel=1e-9)
    assert signal(result, 3, "too_fast").value == pytest.approx(-3 / 1.4826, rel=1e-9)
    speed = signal(result, 3, "too_fast")
    assert speed.numbers["items with a set baseline"] == 10
    assert speed.numbers["typical s/1000 chars"] == pytest.approx(1.0)
    assert speed.numbers["their s/1000 chars"] == pytest.approx(math.exp(-3))


def test_speed_z_is_the_mean_of_the_items_z_worked_by_hand() -> None:
    # Issue 22: the tallies keep sums of log rates, so an annotator's z is the mean of
    # their items' z, not the median. Set: 14 log rates of 0, 10 of 1, 6 of -3: median 0,
    # MAD 1. Annotator 3 has six items at -3 and four at 0: mean z -1.8 / 1.4826 (the
    # median of their z would be -3 / 1.4826).
    rows_ = timed(1, [0.0] * 10) + timed(2, [1.0] * 10) + timed(3, [-3.0] * 6 + [0.0] * 4)
    speed = signal(signals_of(rows_), 3, "too_fast")
    assert speed.value == pytest.approx(-1.8 / 1.4826, rel=1e-9)
    assert speed.numbers["mean robust z"] == speed.value
    assert speed.numbers["their s/1000 chars"] == pytest.approx(math.exp(-1.8))


def test_identical_timings_floor_the_mad() -> None:
    # 29 items at log rate 0 and one at -1: MAD 0, floored at 0.05, so z = -1 / (1.4826 * 0.05).
    result = signals_of(timed(1, [0.0] * 29) + timed(9, [-1.0], first_prompt=30))
    assert signal(result, 9, "too_fast").value == pytest.approx(-1 / (1.4826 * 0.05), rel=1e-9)


def test_straight_lining_flags_one_pattern_over_many_items() -> None:
    result = signals_of(crowd(rows(97, same_pattern)))
    assert flagged(result, 97) == {"straight_lining"}
    runs = signal(result, 97, "straight_lining")
    assert runs.numbers["longest run"] == PROMPTS
    assert runs.numbers["modal pattern share"] == 1.0
    assert runs.numbers["chance of that pattern"] == pytest.approx(1 / 24)
    assert signal(result, 1, "straight_lining").numbers["longest run"] < 5


def test_all_tied_every_time_is_not_a_display_pattern() -> None:
    def all_tied(shown: list[int], rng: random.Random) -> list[list[int]]:
        return [sorted(shown)]

    result = signals_of(crowd(rows(98, all_tied)))
    assert "straight_lining" not in flagged(result, 98)
    assert "position_bias" not in flagged(result, 98)


def test_judge_suggested_items_are_left_out_of_display_signals() -> None:
    result = signals_of(crowd(rows(99, first_shown_first, suggestion_shown=True)))
    assert signal(result, 99, "position_bias").numbers["items"] == 0
    assert not result[99].flagged


def test_two_items_never_flag_anyone() -> None:
    few = rows(90, first_shown_first, order_changed=False, prompts=2, seconds_per_1000=0.1)
    result = signals_of(
        crowd(few), {90: AgreementCounts(0, 12)}, {90: GoldTally(items=2, matched=0, pairs=12)}
    )
    assert not result[90].flagged
    assert not any(s.enough_data for s in result[90].signals)
    assert MIN_ITEMS > 2


def test_low_majority_agreement_is_flagged_and_typical_agreement_is_not() -> None:
    result = signals_of(
        crowd(),
        {1: AgreementCounts(20, 200), 2: AgreementCounts(140, 200), 3: AgreementCounts(5, 20)},
    )
    assert flagged(result, 1) == {"majority_agreement"}
    low = signal(result, 1, "majority_agreement")
    assert low.value == pytest.approx(0.1)
    assert low.numbers["votes with a majority of others"] == 200
    assert not result[2].flagged
    assert not result[3].flagged  # too few votes to say


def test_low_gold_agreement_is_flagged_and_good_gold_is_not() -> None:
    result = signals_of(
        crowd(),
        gold={
            1: GoldTally(items=8, matched=6, pairs=48, top=1),
            2: GoldTally(items=8, matched=44, pairs=48, top=8),
            3: GoldTally(items=2, matched=0, pairs=12),
        },
    )
    assert flagged(result, 1) == {"gold_agreement"}
    assert signal(result, 1, "gold_agreement").numbers["gold items"] == 8
    assert not result[2].flagged and not result[3].flagged


# z = Phi^-1(0.975) = 1.959964; the Wilson upper end is
# (p + z^2/2n + z * sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), worked by hand below.
Z95 = 1.959963984540054


def test_wilson_upper_bound_worked_by_hand() -> None:
    assert wilson_upper(0, 0) is None  # no trials, no interval
    # hits 0: the upper end reduces to z^2 / (n + z^2).
    assert wilson_upper(0, 10) == pytest.approx(Z95**2 / (10 + Z95**2), rel=1e-9)
    assert wilson_upper(0, 10) == pytest.approx(0.277533, abs=1e-6)
    # p = 1/2, n = 100: (0.519207 + 0.099863) / 1.038415
    assert wilson_upper(50, 100) == pytest.approx(0.596168, abs=1e-6)
    assert wilson_upper(100, 100) == pytest.approx(1.0)  # hits = n: exactly 1
    # 44 of 48, as a gold agreement that is not flagged: (0.956682 + 0.087833) / 1.080030
    assert wilson_upper(44, 48) == pytest.approx(0.967116, abs=1e-6)


def test_tooltip_names_the_numbers() -> None:
    result = signals_of(crowd(rows(90, first_shown_first)))
    text = result[90].tooltip()
    assert text.startswith("Position bias: items 60, first shown ranked first 60")
    assert "chance 0.25" in text
