"""Sufficient statistics of the bias and spam signals per (prompt set, annotator), kept in
the submit transaction (issue 22), so the people pages read one row per annotator and set
instead of streaming every annotation.

Two tables (and the speed baseline's, `speed_baseline`, written off the request):

- `annotator_signal_tally`: the position-bias and untouched-order counts (items, hits,
  and the Poisson-binomial's mean and variance of chance hits), the straight-lining run
  (the last display pattern, its run, the longest run and that pattern's chance) and the
  speed sums (timed items, sum of log seconds per 1000 characters).
- `annotator_pattern_tally`: items per display pattern, for the modal pattern's share.

Both rows belong to the submitting annotator alone, and the submit path locks the
annotator's user row first (app.annotation.submission), so one annotator's submits update
them one at a time, in submission order; no other annotator's submit touches them.

What needs a pass over the rows stays out of here: the median and MAD of a set's log rates
(the speed baseline) are recomputed off the request (app.analytics.speed_baselines).

Annotations are never edited; prompts are deleted or regenerated only while nobody has
annotated them (app.annotation.prompt_removal), so nothing is ever subtracted; deleting a
user or a set cascades. `rebuild` recomputes it all from the stored annotations in
submission order: the migration's back-fill, and the reference the tests compare with.

This module sits with the annotations (below app.analytics) because the submit path writes
it; app.analytics.signals reads it, and shares `contribution` with its full recomputation.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    Connection,
    ForeignKey,
    Select,
    String,
    Table,
    Text,
    case,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from app.annotation.assignment import candidate_order
from app.annotation.models import Annotation
from app.core.db import Base
from app.prompt_sets.models import Candidate, Prompt
from app.prompt_sets.ranking import Ranking

ROWS_PER_FETCH = 5000


class AnnotatorSignalTally(Base):
    __tablename__ = "annotator_signal_tally"

    prompt_set_id: Mapped[int] = mapped_column(
        ForeignKey("prompt_set.id", ondelete="CASCADE"), primary_key=True
    )
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    # Position bias: items, first shown ranked first, sum of chances, sum of their variances.
    position_items: Mapped[int] = mapped_column(default=0)
    position_hits: Mapped[int] = mapped_column(default=0)
    position_expected: Mapped[float] = mapped_column(default=0.0)
    position_variance: Mapped[float] = mapped_column(default=0.0)
    # Untouched order: items where the page said, sent as shown, chances, variances.
    untouched_items: Mapped[int] = mapped_column(default=0)
    untouched_hits: Mapped[int] = mapped_column(default=0)
    untouched_expected: Mapped[float] = mapped_column(default=0.0)
    untouched_variance: Mapped[float] = mapped_column(default=0.0)
    # Straight-lining: items with a display pattern, the last pattern and its current
    # run, the longest run and the chance of its pattern (the first to reach that length).
    run_items: Mapped[int] = mapped_column(default=0)
    run_pattern: Mapped[str | None] = mapped_column(String(200))
    run_length: Mapped[int] = mapped_column(default=0)
    run_longest: Mapped[int] = mapped_column(default=0)
    run_longest_chance: Mapped[float] = mapped_column(default=1.0)
    # Speed: items with characters shown, and the sum of their log seconds per 1000 chars.
    timed: Mapped[int] = mapped_column(default=0)
    log_rate_sum: Mapped[float] = mapped_column(default=0.0)


class AnnotatorPatternTally(Base):
    """Items per display pattern (tie-group index by shown position, "0,1,1,2")."""

    __tablename__ = "annotator_pattern_tally"

    prompt_set_id: Mapped[int] = mapped_column(
        ForeignKey("prompt_set.id", ondelete="CASCADE"), primary_key=True
    )
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    pattern: Mapped[str] = mapped_column(String(200), primary_key=True)
    n: Mapped[int] = mapped_column(default=0)


class SpeedBaseline(Base):
    """A set's speed baseline, the median and MAD-based scale of its log rates: the one
    part of the signals that needs a pass over rows, recomputed off the request
    (app.analytics.speed_baselines). `timed` is the data version it was computed for (the
    set's timed annotations then); the tallies' sum says whether it is still current."""

    __tablename__ = "speed_baseline"

    prompt_set_id: Mapped[int] = mapped_column(
        ForeignKey("prompt_set.id", ondelete="CASCADE"), primary_key=True
    )
    timed: Mapped[int] = mapped_column(default=0)
    # NULL: fewer than MIN_SET_BASELINE timed annotations, so no baseline for the set.
    median: Mapped[float | None]
    scale: Mapped[float | None]
    computed_at: Mapped[dt.datetime]


class SignalRow(NamedTuple):
    """One annotation as the bias and spam signals need it (app.analytics.signals)."""

    annotator_id: int
    prompt_set_id: int
    prompt_id: int
    ranking: Ranking
    seconds: float
    chars: int  # characters shown: the prompt and every candidate
    order_changed: bool | None
    suggestion_shown: bool


# --- one annotation's contribution ----------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # a handful of distinct patterns recur over every item
def pattern_chance(pattern: tuple[int, ...]) -> float:
    """How likely a shuffle lays out given tie groups in exactly this display pattern: one
    over the multinomial n! / (g1! g2! ...)."""
    ways = math.factorial(len(pattern))
    for size in Counter(pattern).values():
        ways //= math.factorial(size)
    return 1 / ways


def display_pattern(row: SignalRow) -> tuple[int, ...]:
    """The tie-group index of each answer, in the order the annotator saw them (their
    deterministic shuffle, app.annotation.assignment.candidate_order)."""
    group = {cid: g for g, ids in enumerate(row.ranking) for cid in ids}
    shown = candidate_order(row.annotator_id, row.prompt_id, list(group))
    return tuple(group[cid] for cid in shown)


def log_rate(seconds: float, chars: int) -> float | None:
    """Log seconds per 1000 characters read (floored at 0.01 s); None without characters."""
    if chars <= 0:
        return None
    return math.log(max(seconds * 1000 / chars, 0.01))


@dataclass(frozen=True)
class Contribution:
    position: tuple[bool, float] | None  # (first shown ranked first, chance)
    untouched: tuple[bool, float] | None  # (sent as shown, chance)
    pattern: tuple[int, ...] | None
    chance: float  # of the pattern
    log_rate: float | None


def contribution(row: SignalRow) -> Contribution:
    """What one annotation adds to its annotator's counts. Annotations that started from a
    judge's suggested order are left out of the display-order signals (their starting
    order was the judge's, not the shuffle), but not out of speed."""
    rate = log_rate(row.seconds, row.chars)
    if row.suggestion_shown or not row.ranking:
        return Contribution(None, None, None, 1.0, rate)
    pattern = display_pattern(row)
    n = len(pattern)
    if n < 2:
        return Contribution(None, None, None, 1.0, rate)
    top = sum(1 for g in pattern if g == 0)
    # Everything tied first says nothing about position.
    position = (pattern[0] == 0, top / n) if top < n else None
    untouched = None
    if row.order_changed is not None:
        untouched = (not row.order_changed, 1 / math.factorial(n))
    return Contribution(position, untouched, pattern, pattern_chance(pattern), rate)


def pattern_key(pattern: tuple[int, ...]) -> str:
    return ",".join(map(str, pattern))


def parse_pattern(key: str) -> tuple[int, ...]:
    return tuple(int(g) for g in key.split(","))


# --- accumulation (the rebuild, and the pure full recomputation) ----------------------------

_SUMS = (
    "position_items",
    "position_hits",
    "position_expected",
    "position_variance",
    "untouched_items",
    "untouched_hits",
    "untouched_expected",
    "untouched_variance",
    "run_items",
    "timed",
    "log_rate_sum",
)


def _increments(c: Contribution) -> dict[str, Any]:
    """The counters one contribution adds (zero where it adds nothing)."""
    pos_hit, pos_chance = c.position if c.position else (False, 0.0)
    unt_hit, unt_chance = c.untouched if c.untouched else (False, 0.0)
    return {
        "position_items": int(c.position is not None),
        "position_hits": int(pos_hit),
        "position_expected": pos_chance,
        "position_variance": pos_chance * (1 - pos_chance),
        "untouched_items": int(c.untouched is not None),
        "untouched_hits": int(unt_hit),
        "untouched_expected": unt_chance,
        "untouched_variance": unt_chance * (1 - unt_chance),
        "run_items": int(c.pattern is not None),
        "timed": int(c.log_rate is not None),
        "log_rate_sum": c.log_rate if c.log_rate is not None else 0.0,
    }


@dataclass
class Tally:
    """One (set, annotator)'s counters in memory: what the SQL upsert does, in Python."""

    values: dict[str, Any] = field(
        default_factory=lambda: {
            **{name: 0 for name in _SUMS},
            "run_pattern": None,
            "run_length": 0,
            "run_longest": 0,
            "run_longest_chance": 1.0,
        }
    )
    patterns: Counter[str] = field(default_factory=Counter)

    def add(self, c: Contribution) -> None:
        v = self.values
        for name, inc in _increments(c).items():
            v[name] += inc
        if c.pattern is None:
            return
        key = pattern_key(c.pattern)
        self.patterns[key] += 1
        v["run_length"] = v["run_length"] + 1 if v["run_pattern"] == key else 1
        v["run_pattern"] = key
        if v["run_length"] > v["run_longest"]:
            v["run_longest"], v["run_longest_chance"] = v["run_length"], c.chance


def accumulate(rows: Iterable[SignalRow]) -> dict[tuple[int, int], Tally]:
    """(set, annotator) -> counters, from rows in submission order."""
    out: dict[tuple[int, int], Tally] = {}
    for row in rows:
        key = (row.prompt_set_id, row.annotator_id)
        tally = out.get(key)
        if tally is None:
            tally = out[key] = Tally()
        tally.add(contribution(row))
    return out


# --- writing them in the submit transaction -------------------------------------------------

_SIGNALS = cast(Table, AnnotatorSignalTally.__table__)
_PATTERNS = cast(Table, AnnotatorPatternTally.__table__)
_STATEMENTS: dict[str, tuple[Any, Any]] = {}


def _statements(dialect: str) -> tuple[Any, Any]:
    """The two upserts, built once per dialect. The run is continued in SQL: every SET
    expression reads the row as it was before this annotation (standard UPDATE rules)."""
    found = _STATEMENTS.get(dialect)
    if found is not None:
        return found
    module = postgresql if dialect == "postgresql" else sqlite
    base = module.insert(_SIGNALS)
    t, new = _SIGNALS.c, base.excluded
    run = case(
        (new.run_pattern.is_(None), t.run_length),
        (t.run_pattern == new.run_pattern, t.run_length + 1),
        else_=1,
    )
    longer = run > t.run_longest
    changes: dict[str, Any] = {name: t[name] + new[name] for name in _SUMS}
    changes |= {
        "run_pattern": func.coalesce(new.run_pattern, t.run_pattern),
        "run_length": run,
        "run_longest": case((longer, run), else_=t.run_longest),
        "run_longest_chance": case((longer, new.run_longest_chance), else_=t.run_longest_chance),
    }
    signals = base.on_conflict_do_update(
        index_elements=["prompt_set_id", "annotator_id"], set_=changes
    )
    pattern_base = module.insert(_PATTERNS)
    patterns = pattern_base.on_conflict_do_update(
        index_elements=["prompt_set_id", "annotator_id", "pattern"],
        set_={"n": _PATTERNS.c.n + pattern_base.excluded.n},
    )
    _STATEMENTS[dialect] = (signals, patterns)
    return signals, patterns


def _postgres_statement() -> Any:
    """Both upserts in one PostgreSQL statement of fixed text (data-modifying CTEs, as
    app.annotation.tallies does): one round trip and no per-call SQL compilation. The
    same SQL as `_statements` builds."""
    names = ["prompt_set_id", "annotator_id", *_SUMS]
    names += ["run_pattern", "run_length", "run_longest", "run_longest_chance"]
    sums = ", ".join(f"{n} = t.{n} + EXCLUDED.{n}" for n in _SUMS)
    run = (
        "CASE WHEN EXCLUDED.run_pattern IS NULL THEN t.run_length"
        " WHEN t.run_pattern = EXCLUDED.run_pattern THEN t.run_length + 1 ELSE 1 END"
    )
    return text(
        f"""
WITH signals AS (
  INSERT INTO annotator_signal_tally AS t ({", ".join(names)})
  VALUES ({", ".join(":" + n for n in names)})
  ON CONFLICT (prompt_set_id, annotator_id) DO UPDATE SET {sums},
    run_pattern = coalesce(EXCLUDED.run_pattern, t.run_pattern),
    run_length = {run},
    run_longest = CASE WHEN {run} > t.run_longest THEN {run} ELSE t.run_longest END,
    run_longest_chance = CASE WHEN {run} > t.run_longest THEN EXCLUDED.run_longest_chance
                              ELSE t.run_longest_chance END
  RETURNING 1
), patterns AS (
  INSERT INTO annotator_pattern_tally AS p (prompt_set_id, annotator_id, pattern, n)
  SELECT :prompt_set_id, :annotator_id, CAST(:run_pattern AS varchar), 1
  WHERE CAST(:run_pattern AS varchar) IS NOT NULL
  ON CONFLICT (prompt_set_id, annotator_id, pattern) DO UPDATE SET n = p.n + EXCLUDED.n
  RETURNING 1
)
SELECT 1"""
    )


_POSTGRES_WRITE: Any = None


def record_annotation(conn: Connection, row: SignalRow) -> None:
    """Add a new annotation to its annotator's signal counts. Call in the transaction that
    stores it, with the annotator's user row locked (the submit path's first lock), so
    their submits are counted one at a time and in order."""
    c = contribution(row)
    key = pattern_key(c.pattern) if c.pattern is not None else None
    values = {
        "prompt_set_id": row.prompt_set_id,
        "annotator_id": row.annotator_id,
        **_increments(c),
        "run_pattern": key,
        "run_length": int(key is not None),
        "run_longest": int(key is not None),
        "run_longest_chance": c.chance,
    }
    if conn.dialect.name == "postgresql":
        global _POSTGRES_WRITE
        if _POSTGRES_WRITE is None:
            _POSTGRES_WRITE = _postgres_statement()
        conn.execute(_POSTGRES_WRITE, values)
        return
    signals, patterns = _statements(conn.dialect.name)
    conn.execute(signals, values)
    if key is not None:
        conn.execute(
            patterns,
            {
                "prompt_set_id": row.prompt_set_id,
                "annotator_id": row.annotator_id,
                "pattern": key,
                "n": 1,
            },
        )


# --- reading the annotations ----------------------------------------------------------------


def chars_shown(in_sets: Sequence[Any]) -> Any:
    """prompt_id -> characters of its candidates (a subquery), within these filters."""
    shown = select(
        Candidate.prompt_id, func.sum(func.length(Candidate.text)).label("chars")
    ).group_by(Candidate.prompt_id)
    if in_sets:
        shown = shown.join(Prompt, Prompt.id == Candidate.prompt_id).where(*in_sets)
    return shown.subquery()


def prompt_chars() -> Any:
    """Characters of a prompt as shown: its text, or its messages as stored (JSON text, an
    overestimate by the keys, the same for everyone who saw that prompt)."""
    return func.length(func.coalesce(Prompt.text, sql_cast(Prompt.messages, Text), ""))


def rows_query(prompt_set_ids: Sequence[int] | None) -> Select[Any]:
    in_sets: list[Any] = []
    if prompt_set_ids is not None:
        in_sets = [Prompt.prompt_set_id.in_(list(prompt_set_ids))]
    answers = chars_shown(in_sets)
    return (
        select(
            Annotation.annotator_id,
            Prompt.prompt_set_id,
            Annotation.prompt_id,
            sql_cast(Annotation.ranking, Text),
            Annotation.seconds_spent,
            prompt_chars() + func.coalesce(answers.c.chars, 0),
            Annotation.order_changed,
            Annotation.suggestion_shown,
        )
        .join(Prompt, Prompt.id == Annotation.prompt_id)
        .outerjoin(answers, answers.c.prompt_id == Annotation.prompt_id)
        .where(*in_sets)
        .order_by(Annotation.created_at, Annotation.id)
        .execution_options(yield_per=ROWS_PER_FETCH)
    )


def iter_rows(conn: Connection, prompt_set_ids: Sequence[int] | None = None) -> Iterator[SignalRow]:
    """Every annotation (of these sets, or everywhere) in submission order, streamed with
    a server-side cursor: memory never holds more than a fetch of rows."""
    decode = json.JSONDecoder().decode
    result = conn.execute(rows_query(prompt_set_ids))
    try:
        for annotator, prompt_set, prompt, ranking, seconds, chars, changed, suggested in result:
            yield SignalRow(
                annotator,
                prompt_set,
                prompt,
                decode(ranking),
                float(seconds),
                int(chars or 0),
                changed,
                bool(suggested),
            )
    finally:
        result.close()


def rebuild(conn: Connection, prompt_set_id: int | None = None) -> None:
    """Recompute every signal tally from the stored annotations (all sets, or one), in
    submission order, replacing what is there: the back-fill, and the tests' reference."""
    for table in (_SIGNALS, _PATTERNS):
        where = [] if prompt_set_id is None else [table.c.prompt_set_id == prompt_set_id]
        conn.execute(delete(table).where(*where))
    scope = None if prompt_set_id is None else [prompt_set_id]
    counted = accumulate(iter_rows(conn, scope))
    rows = [
        {"prompt_set_id": s, "annotator_id": a, **tally.values}
        for (s, a), tally in sorted(counted.items())
    ]
    patterns = [
        {"prompt_set_id": s, "annotator_id": a, "pattern": p, "n": n}
        for (s, a), tally in sorted(counted.items())
        for p, n in sorted(tally.patterns.items())
    ]
    for table, values in ((_SIGNALS, rows), (_PATTERNS, patterns)):
        for start in range(0, len(values), ROWS_PER_FETCH):
            conn.execute(insert(table), values[start : start + ROWS_PER_FETCH])
