"""Bias and spam signals per annotator (issue 13, item 4): numbers for an admin to look at,
never an automatic rejection.

Pure: the counts come from the per-(set, annotator) signal tallies the submit keeps
(app.annotation.signal_tallies, issue 22) and each set's speed baseline
(app.analytics.speed_baselines), majority agreement from the reporting tallies
(leave-one-out per pair, as app.analytics.agreement.annotator_agreement defines it) and
gold accuracy from app.analytics.annotators.gold_tallies. `stream_signals` computes the
same from the annotations themselves: the reference the tallies are tested against.
Each signal carries its value, the counts behind it, its threshold and whether it is
flagged; nothing is flagged below a minimum sample, so two items never flag anyone.

The shown order is the annotator's deterministic shuffle (app.annotation.assignment.
candidate_order), so "the answer shown first" is known for every stored annotation.
Annotations that started from a judge's suggested order (suggestion_shown) are left out of
the three display-order signals: their starting order was the judge's, not the shuffle.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from app.analytics import speed_baselines
from app.analytics.annotators import GoldTally
from app.analytics.speed_baselines import Baseline
from app.annotation.signal_tallies import SignalRow, accumulate, log_rate

# Minimum samples before a signal may flag anyone.
MIN_ITEMS = 20  # position bias, untouched order, straight-lining, time per item
MIN_AGREEMENT_VOTES = 50
MIN_GOLD_ITEMS = 5

# Position bias and untouched order: significantly above chance (one-sided p) and by a
# margin that matters (a huge sample makes tiny, harmless biases significant).
MAX_P_VALUE = 0.001
MIN_EXCESS = 0.15
# Straight-lining: a run of identical display patterns at least this long, and unlikely
# (items x chance^(run - 1)) for someone whose ranking does not depend on the display.
MIN_RUN = 10
# Too fast: the mean robust z of log seconds per 1000 characters read, against each item's
# set's median and MAD (app.analytics.speed_baselines). The mean, not the median of the
# per-item z as before issue 22: a mean comes from the sums the submit keeps, a median
# would need every item. On log rates the mean is robust enough (a lease caps the time).
MAX_SPEED_Z = -3.0
# Agreement: flagged when the 95% Wilson score interval (scipy.stats.binomtest) lies wholly
# below this share.
MIN_AGREEMENT = 0.6
WILSON_CONFIDENCE = 0.95

EXPLANATIONS = {
    "position_bias": (
        "How often the answer shown first was ranked first, against what chance gives with "
        "that many answers (and ties). Far above chance means the display order, not the "
        "content, decided."
    ),
    "untouched_order": (
        "Share of submissions sent in the order shown, without moving anything (where the "
        "page recorded it). The shuffle is random, so honest rankings rarely match it."
    ),
    "too_fast": (
        "Seconds per 1000 characters read (prompt and answers), compared with everyone's "
        "items of the same set (robust z against the set's median and MAD of log rates, "
        "averaged over their items). Strongly negative means far faster than others read "
        "the same amount of text."
    ),
    "straight_lining": (
        "The longest run of consecutive items ranked with the same pattern by display "
        "position (e.g. always A > B > C), and how likely such a run is by chance."
    ),
    "majority_agreement": (
        "Share of their pairwise choices that match the majority of the other annotators "
        "of the same pair (leave-one-out). Flagged when surely below the threshold."
    ),
    "gold_agreement": (
        "Share of the gold rankings' pair orders they matched on gold items. Flagged when "
        "surely below the threshold."
    ),
}
LABELS = {
    "position_bias": "Position bias",
    "untouched_order": "Untouched order",
    "too_fast": "Too fast for the text",
    "straight_lining": "Straight-lining",
    "majority_agreement": "Agreement with the majority",
    "gold_agreement": "Agreement with gold",
}


class AgreementCounts(NamedTuple):
    agree: int
    total: int


@dataclass(frozen=True)
class Signal:
    key: str
    value: float | None
    # The numbers behind the value, in display order.
    numbers: dict[str, float | int | None]
    threshold: str
    flagged: bool
    enough_data: bool

    @property
    def label(self) -> str:
        return LABELS[self.key]

    @property
    def explanation(self) -> str:
        return EXPLANATIONS[self.key]

    def summary(self) -> str:
        """One line with the numbers, for a tooltip."""
        parts = ", ".join(f"{k} {_short(v)}" for k, v in self.numbers.items())
        return f"{self.label}: {parts} (flag: {self.threshold})"


def _short(value: float | int | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


@dataclass(frozen=True)
class AnnotatorSignals:
    annotator_id: int
    signals: list[Signal]

    @property
    def flagged(self) -> bool:
        return any(s.flagged for s in self.signals)

    @property
    def flagged_signals(self) -> list[Signal]:
        return [s for s in self.signals if s.flagged]

    def tooltip(self) -> str:
        return "; ".join(s.summary() for s in self.flagged_signals)


# --- from the tallies to per-annotator counts -------------------------------------------


@dataclass
class _Counts:
    """One annotator's counters over the sets in scope."""

    position: ChanceCount = field(default_factory=lambda: ChanceCount(0, 0, 0.0, 0.0))
    untouched: ChanceCount = field(default_factory=lambda: ChanceCount(0, 0, 0.0, 0.0))
    run_items: int = 0
    longest: int = 0
    longest_chance: float = 1.0
    patterns: Counter[str] = field(default_factory=Counter)
    timed: int = 0
    log_rate_sum: float = 0.0
    based: int = 0  # timed items of sets with a baseline
    z_sum: float = 0.0
    median_sum: float = 0.0  # sum of the set medians over those items


class ChanceCount(NamedTuple):
    """Hits against per-item chance rates: a Poisson-binomial's mean and variance."""

    items: int
    hits: int
    expected: float
    variance: float

    def plus(self, other: ChanceCount) -> ChanceCount:
        return ChanceCount(
            self.items + other.items,
            self.hits + other.hits,
            self.expected + other.expected,
            self.variance + other.variance,
        )


def _add_tally(counts: _Counts, t: Mapping, baseline: Baseline | None) -> None:
    counts.position = counts.position.plus(
        ChanceCount(
            t["position_items"], t["position_hits"], t["position_expected"], t["position_variance"]
        )
    )
    counts.untouched = counts.untouched.plus(
        ChanceCount(
            t["untouched_items"],
            t["untouched_hits"],
            t["untouched_expected"],
            t["untouched_variance"],
        )
    )
    counts.run_items += t["run_items"]
    # Runs are counted within a set (issue 22: the tally is per set and annotator); over
    # several sets the longest of them counts, and of equally long ones the likelier
    # pattern (the smaller claim). Before, one run could continue across interleaved sets;
    # patterns of sets with different numbers of answers never match anyway.
    longest, chance = t["run_longest"], t["run_longest_chance"]
    if longest > counts.longest or (longest == counts.longest and chance > counts.longest_chance):
        counts.longest, counts.longest_chance = longest, chance
    counts.timed += t["timed"]
    counts.log_rate_sum += t["log_rate_sum"]
    if baseline is not None and baseline.median is not None and baseline.scale and t["timed"]:
        n = t["timed"]
        counts.based += n
        counts.z_sum += (t["log_rate_sum"] - n * baseline.median) / baseline.scale
        counts.median_sum += n * baseline.median


def signals_from_tallies(
    tallies: Iterable[Mapping],
    patterns: Iterable[tuple[int, str, int]],
    baselines: Mapping[int, Baseline],
) -> dict[int, list[Signal]]:
    """The signals read from the annotations themselves (position bias, untouched order,
    speed, straight-lining), by annotator id, from the per-(set, annotator) tallies
    (app.annotation.signal_tallies: dicts with its columns), the (annotator, pattern,
    items) counts and each set's speed baseline."""
    counts: dict[int, _Counts] = {}
    for t in sorted(tallies, key=lambda t: (t["annotator_id"], t["prompt_set_id"])):
        state = counts.setdefault(t["annotator_id"], _Counts())
        _add_tally(state, t, baselines.get(t["prompt_set_id"]))
    for annotator_id, pattern, n in patterns:
        if annotator_id in counts:
            counts[annotator_id].patterns[pattern] += n
    return {
        annotator_id: [
            _chance_signal("position_bias", c.position, "first shown ranked first"),
            _chance_signal("untouched_order", c.untouched, "sent as shown"),
            _speed_signal(c),
            _runs_signal(c),
        ]
        for annotator_id, c in counts.items()
    }


def stream_signals(rows: Iterable[SignalRow]) -> dict[int, list[Signal]]:
    """The same signals computed from scratch from the annotations (in submission order):
    the reference the tallies are tested against, through the very counting the tallies
    do (signal_tallies.accumulate) and the baseline the background refresh computes."""
    kept = list(rows)
    counted = accumulate(kept)
    rates: dict[int, list[float]] = {}
    for row in kept:
        rate = log_rate(row.seconds, row.chars)
        if rate is not None:
            rates.setdefault(row.prompt_set_id, []).append(rate)
    baselines = {
        s: Baseline(len(v), *speed_baselines.compute(np.array(v)), None) for s, v in rates.items()
    }
    tallies = [{"prompt_set_id": s, "annotator_id": a, **t.values} for (s, a), t in counted.items()]
    patterns = [(a, p, n) for (_, a), t in counted.items() for p, n in t.patterns.items()]
    return signals_from_tallies(tallies, patterns, baselines)


def _speed_signal(c: _Counts) -> Signal:
    mean_z = c.z_sum / c.based if c.based else None
    enough = c.based >= MIN_ITEMS
    return Signal(
        "too_fast",
        mean_z,
        {
            "items timed": c.timed,
            "items with a set baseline": c.based,
            # Geometric means (mean log rates): the tallies keep sums in log space.
            "their s/1000 chars": math.exp(c.log_rate_sum / c.timed) if c.timed else None,
            "typical s/1000 chars": math.exp(c.median_sum / c.based) if c.based else None,
            "mean robust z": mean_z,
        },
        f"mean robust z ≤ {MAX_SPEED_Z:g} over ≥ {MIN_ITEMS} items",
        enough and mean_z is not None and mean_z <= MAX_SPEED_Z,
        enough,
    )


# --- from counts to signals --------------------------------------------------------------


def _upper_tail(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _chance_signal(key: str, count: ChanceCount, share_name: str) -> Signal:
    n = count.items
    share = count.hits / n if n else None
    chance = count.expected / n if n else None
    z = (count.hits - count.expected) / math.sqrt(count.variance) if count.variance else None
    p = _upper_tail(z) if z is not None else None
    enough = n >= MIN_ITEMS
    flagged = (
        enough
        and p is not None
        and share is not None
        and chance is not None
        and p < MAX_P_VALUE
        and share - chance >= MIN_EXCESS
    )
    return Signal(
        key,
        share,
        {
            "items": n,
            share_name: count.hits,
            "share": share,
            "chance": chance,
            "z": z,
            "p": p,
        },
        f"p < {MAX_P_VALUE:g} and share ≥ chance + {MIN_EXCESS:g}, over ≥ {MIN_ITEMS} items",
        flagged,
        enough,
    )


def _runs_signal(c: _Counts) -> Signal:
    items = c.run_items
    p = min(1.0, items * c.longest_chance ** (c.longest - 1)) if items else None
    modal = max(c.patterns.values()) / items if items and c.patterns else None
    enough = items >= MIN_ITEMS
    return Signal(
        "straight_lining",
        float(c.longest) if items else None,
        {
            "items": items,
            "longest run": c.longest,
            "chance of that pattern": c.longest_chance if items else None,
            "p (run by chance)": p,
            "modal pattern share": modal,
        },
        f"run ≥ {MIN_RUN} and p < {MAX_P_VALUE:g}, over ≥ {MIN_ITEMS} items",
        enough and p is not None and c.longest >= MIN_RUN and p < MAX_P_VALUE,
        enough,
    )


def wilson_upper(hits: int, n: int, confidence: float = WILSON_CONFIDENCE) -> float | None:
    """The upper end of the Wilson score interval of hits / n; None with no trials (scipy
    refuses n = 0, and no interval is there to show)."""
    if n <= 0:
        return None
    from scipy.stats import binomtest  # imported here: see _Speeds.signals

    return float(binomtest(hits, n).proportion_ci(confidence, method="wilson").high)


def _agreement_signal(
    key: str, matched: int, total: int, minimum: int, sample: int, numbers: dict
) -> Signal:
    rate = matched / total if total else None
    upper = wilson_upper(matched, total)
    enough = sample >= minimum
    return Signal(
        key,
        rate,
        numbers | {"share": rate, "95% upper bound": upper},
        f"95% upper bound < {MIN_AGREEMENT:g}, with enough data",
        enough and upper is not None and upper < MIN_AGREEMENT,
        enough,
    )


def _majority_signal(agreement: AgreementCounts | None) -> Signal:
    agree, total = agreement or (0, 0)
    return _agreement_signal(
        "majority_agreement",
        agree,
        total,
        MIN_AGREEMENT_VOTES,
        total,
        {"votes with a majority of others": total, "matched": agree},
    )


def _gold_signal(gold: GoldTally | None) -> Signal:
    g = gold or GoldTally()
    return _agreement_signal(
        "gold_agreement",
        g.matched,
        g.pairs,
        MIN_GOLD_ITEMS,
        g.items,
        {"gold items": g.items, "gold pair orders": g.pairs, "matched": g.matched},
    )


def with_agreement(
    streamed: Mapping[int, list[Signal]],
    agreement: Mapping[int, AgreementCounts],
    gold: Mapping[int, GoldTally],
) -> dict[int, AnnotatorSignals]:
    """Every signal of every annotator with at least one annotation: the streamed ones
    plus agreement with the majority and with gold."""
    return {
        annotator_id: AnnotatorSignals(
            annotator_id,
            [
                *signals,
                _majority_signal(agreement.get(annotator_id)),
                _gold_signal(gold.get(annotator_id)),
            ],
        )
        for annotator_id, signals in streamed.items()
    }


def annotator_signals(
    rows: Iterable[SignalRow],
    agreement: Mapping[int, AgreementCounts],
    gold: Mapping[int, GoldTally],
) -> dict[int, AnnotatorSignals]:
    """Every signal of every annotator with at least one annotation, by annotator id."""
    return with_agreement(stream_signals(rows), agreement, gold)


def flagged_annotators(signals: Mapping[int, AnnotatorSignals]) -> list[int]:
    return sorted(a for a, s in signals.items() if s.flagged)
