"""Bias and spam signals per annotator (issue 13, item 4): numbers for an admin to look at,
never an automatic rejection.

Pure: the rows come from app.analytics.loaders.iter_signal_rows (one per annotation, in
submission order), majority agreement from the tallies (leave-one-out per pair, as
app.analytics.agreement.annotator_agreement defines it) and gold accuracy from
app.analytics.annotators.gold_tallies. Each signal carries its value, the counts behind
it, its threshold and whether it is flagged; nothing is flagged below a minimum sample, so
two items never flag anyone.

The shown order is the annotator's deterministic shuffle (app.annotation.assignment.
candidate_order), so "the answer shown first" is known for every stored annotation.
Annotations that started from a judge's suggested order (suggestion_shown) are left out of
the three display-order signals: their starting order was the judge's, not the shuffle.
"""

from __future__ import annotations

import functools
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from app.analytics.annotators import GoldTally
from app.analytics.loaders import SignalRow
from app.annotation.assignment import candidate_order

# Minimum samples before a signal may flag anyone.
MIN_ITEMS = 20  # position bias, untouched order, straight-lining, time per item
MIN_AGREEMENT_VOTES = 50
MIN_GOLD_ITEMS = 5
# A set needs this many timed annotations before it is a baseline for speed.
MIN_SET_BASELINE = 30

# Position bias and untouched order: significantly above chance (one-sided p) and by a
# margin that matters (a huge sample makes tiny, harmless biases significant).
MAX_P_VALUE = 0.001
MIN_EXCESS = 0.15
# Straight-lining: a run of identical display patterns at least this long, and unlikely
# (items x chance^(run - 1)) for someone whose ranking does not depend on the display.
MIN_RUN = 10
# Too fast: the median robust z of seconds per 1000 characters read, against each item's
# set. MAD of log rates (scipy.stats.median_abs_deviation) is floored so identical timings
# do not divide by zero, then scaled to a normal's standard deviation (1 / Phi^-1(3/4)).
MAX_SPEED_Z = -3.0
MAD_FLOOR = 0.05
MAD_TO_SD = 1.4826
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
        "items of the same set (robust z: median and MAD of log rates). Strongly negative "
        "means far faster than others read the same amount of text."
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


# --- accumulation over the stream --------------------------------------------------------


@dataclass
class _ChanceCount:
    """Hits against per-item chance rates: a Poisson-binomial's mean and variance."""

    items: int = 0
    hits: int = 0
    expected: float = 0.0
    variance: float = 0.0

    def add(self, hit: bool, chance: float) -> None:
        self.items += 1
        self.hits += hit
        self.expected += chance
        self.variance += chance * (1 - chance)


@dataclass
class _Runs:
    last: tuple[int, ...] | None = None
    run: int = 0
    longest: int = 0
    longest_chance: float = 1.0
    items: int = 0
    patterns: Counter[tuple[int, ...]] = field(default_factory=Counter)

    def add(self, pattern: tuple[int, ...], chance: float) -> None:
        self.items += 1
        self.patterns[pattern] += 1
        self.run = self.run + 1 if pattern == self.last else 1
        self.last = pattern
        if self.run > self.longest:
            self.longest, self.longest_chance = self.run, chance


@dataclass
class _Annotator:
    position: _ChanceCount = field(default_factory=_ChanceCount)
    untouched: _ChanceCount = field(default_factory=_ChanceCount)
    runs: _Runs = field(default_factory=_Runs)


@functools.lru_cache(maxsize=4096)  # a handful of distinct patterns recur over every item
def _pattern_chance(pattern: tuple[int, ...]) -> float:
    """How likely a shuffle lays out given tie groups in exactly this display pattern: one
    over the multinomial n! / (g1! g2! ...)."""
    ways = math.factorial(len(pattern))
    for size in Counter(pattern).values():
        ways //= math.factorial(size)
    return 1 / ways


class _Speeds:
    """Log seconds per 1000 characters per annotation, in compact arrays."""

    def __init__(self) -> None:
        self.set_index: dict[int, int] = {}
        self.annotator_index: dict[int, int] = {}
        self.sets = array("i")
        self.annotators = array("i")
        self.log_rates = array("d")

    def add(self, row: SignalRow) -> None:
        if row.chars <= 0:
            return
        rate = row.seconds * 1000 / row.chars
        self.sets.append(self.set_index.setdefault(row.prompt_set_id, len(self.set_index)))
        self.annotators.append(
            self.annotator_index.setdefault(row.annotator_id, len(self.annotator_index))
        )
        self.log_rates.append(math.log(max(rate, 0.01)))

    def signals(self) -> dict[int, Signal]:
        # Imported here: scipy.stats takes most of a second to import, and only the
        # dashboard's signals need it.
        from scipy.stats import median_abs_deviation

        if not self.log_rates:
            return {}
        sets = np.frombuffer(self.sets, dtype=np.int32)
        who = np.frombuffer(self.annotators, dtype=np.int32)
        rates = np.frombuffer(self.log_rates, dtype=np.float64)
        medians = np.full(len(self.set_index), np.nan)
        scales = np.full(len(self.set_index), np.nan)
        for chunk in _groups(sets):
            if len(chunk) >= MIN_SET_BASELINE:
                s, values = sets[chunk[0]], rates[chunk]
                medians[s] = np.median(values)
                scales[s] = MAD_TO_SD * max(float(median_abs_deviation(values)), MAD_FLOOR)
        z = (rates - medians[sets]) / scales[sets]
        ids = {i: a for a, i in self.annotator_index.items()}
        return {
            ids[int(who[chunk[0]])]: _speed_signal(rates[chunk], z[chunk], medians[sets[chunk]])
            for chunk in _groups(who)
        }


def _groups(keys: np.ndarray) -> list[np.ndarray]:
    """Indices of `keys` grouped by value (one sort, not a scan per value)."""
    order = np.argsort(keys, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(keys[order])) + 1)


def _speed_signal(log_rates: np.ndarray, z: np.ndarray, set_medians: np.ndarray) -> Signal:
    known = ~np.isnan(z)
    n = int(known.sum())
    median_z = float(np.median(z[known])) if n else None
    enough = n >= MIN_ITEMS
    return Signal(
        "too_fast",
        median_z,
        {
            "items timed": int(len(log_rates)),
            "items with a set baseline": n,
            "their median s/1000 chars": (
                float(np.exp(np.median(log_rates))) if len(log_rates) else None
            ),
            "typical s/1000 chars": float(np.exp(np.median(set_medians[known]))) if n else None,
            "median robust z": median_z,
        },
        f"median robust z ≤ {MAX_SPEED_Z:g} over ≥ {MIN_ITEMS} items",
        enough and median_z is not None and median_z <= MAX_SPEED_Z,
        enough,
    )


def _display_pattern(row: SignalRow) -> tuple[int, ...]:
    """The tie-group index of each answer, in the order the annotator saw them."""
    group = {cid: g for g, ids in enumerate(row.ranking) for cid in ids}
    shown = candidate_order(row.annotator_id, row.prompt_id, list(group))
    return tuple(group[cid] for cid in shown)


def _add(state: _Annotator, row: SignalRow) -> None:
    if row.suggestion_shown or not row.ranking:
        return
    pattern = _display_pattern(row)
    n = len(pattern)
    if n < 2:
        return
    top = sum(1 for g in pattern if g == 0)
    if top < n:  # everything tied first says nothing about position
        state.position.add(pattern[0] == 0, top / n)
    if row.order_changed is not None:
        state.untouched.add(not row.order_changed, 1 / math.factorial(n))
    state.runs.add(pattern, _pattern_chance(pattern))


# --- from counts to signals --------------------------------------------------------------


def _upper_tail(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _chance_signal(key: str, count: _ChanceCount, share_name: str) -> Signal:
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


def _runs_signal(runs: _Runs) -> Signal:
    p = min(1.0, runs.items * runs.longest_chance ** (runs.longest - 1)) if runs.items else None
    modal = runs.patterns.most_common(1)[0][1] / runs.items if runs.items else None
    enough = runs.items >= MIN_ITEMS
    return Signal(
        "straight_lining",
        float(runs.longest) if runs.items else None,
        {
            "items": runs.items,
            "longest run": runs.longest,
            "chance of that pattern": runs.longest_chance if runs.items else None,
            "p (run by chance)": p,
            "modal pattern share": modal,
        },
        f"run ≥ {MIN_RUN} and p < {MAX_P_VALUE:g}, over ≥ {MIN_ITEMS} items",
        enough and p is not None and runs.longest >= MIN_RUN and p < MAX_P_VALUE,
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


_NONE = np.empty(0)


def stream_signals(rows: Iterable[SignalRow]) -> dict[int, list[Signal]]:
    """The signals read from the annotations themselves (position bias, untouched order,
    speed, straight-lining), by annotator id.

    `rows` must come in submission order (straight-lining reads consecutive items); they
    are read once and only small per-annotator counters and three numbers per annotation
    (for the speed baseline) are kept. Annotations never change once stored, so the
    result only changes when annotations are added or removed."""
    states: dict[int, _Annotator] = {}
    speeds = _Speeds()
    for row in rows:
        state = states.get(row.annotator_id)
        if state is None:
            state = states[row.annotator_id] = _Annotator()
        _add(state, row)
        speeds.add(row)
    speed = speeds.signals()
    return {
        annotator_id: [
            _chance_signal("position_bias", state.position, "first shown ranked first"),
            _chance_signal("untouched_order", state.untouched, "sent as shown"),
            speed.get(annotator_id) or _speed_signal(_NONE, _NONE, _NONE),
            _runs_signal(state.runs),
        ]
        for annotator_id, state in states.items()
    }


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
