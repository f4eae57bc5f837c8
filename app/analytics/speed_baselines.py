"""Each prompt set's speed baseline: the median and MAD of its log seconds per 1000
characters (issue 22).

A median is not a sufficient statistic: it needs every value, so it cannot ride in the
submit transaction like the other signal counts (app.annotation.signal_tallies). It is
recomputed in a background thread, stored in `speed_baseline` with the data version it
belongs to (the set's timed annotations then) and its time, and read from there by every
app process: a page shows the newest baseline there is, with its "as of" time, and never
waits for a new one. An export deciding whom to leave out refreshes a stale baseline
inline first (it is a batch job, and must not depend on when someone last viewed a page).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.annotation.models import Annotation
from app.annotation.signal_tallies import (
    AnnotatorSignalTally,
    SpeedBaseline,
    chars_shown,
    log_rate,
    prompt_chars,
)
from app.core.db import db_now
from app.prompt_sets.models import Prompt

log = logging.getLogger(__name__)

# A set needs this many timed annotations before it is a baseline for speed.
MIN_SET_BASELINE = 30
# The MAD of log rates (scipy.stats.median_abs_deviation) is floored so identical timings
# do not divide by zero, then scaled to a normal's standard deviation (1 / Phi^-1(3/4)).
MAD_FLOOR = 0.05
MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class Baseline:
    timed: int  # the set's timed annotations it was computed over
    median: float | None  # None: too few timed annotations for a baseline
    scale: float | None
    computed_at: dt.datetime | None


@dataclass(frozen=True)
class BaselineStatus:
    """What the pages say about the baselines they used."""

    as_of: dt.datetime | None  # the oldest baseline in use; None: none computed yet
    current: bool  # False: annotations arrived since, a refresh is under way


def compute(log_rates: np.ndarray) -> tuple[float | None, float | None]:
    """(median, scale) of a set's log rates; (None, None) below MIN_SET_BASELINE."""
    # Imported here: scipy.stats takes most of a second to import.
    from scipy.stats import median_abs_deviation

    if len(log_rates) < MIN_SET_BASELINE:
        return None, None
    mad = float(median_abs_deviation(log_rates))
    return float(np.median(log_rates)), MAD_TO_SD * max(mad, MAD_FLOOR)


def _log_rates(session: Session, prompt_set_id: int) -> np.ndarray:
    in_set = [Prompt.prompt_set_id == prompt_set_id]
    answers = chars_shown(in_set)
    rows = session.execute(
        select(Annotation.seconds_spent, prompt_chars() + func.coalesce(answers.c.chars, 0))
        .join(Prompt, Prompt.id == Annotation.prompt_id)
        .outerjoin(answers, answers.c.prompt_id == Annotation.prompt_id)
        .where(*in_set)
    )
    rates = [log_rate(float(s), int(c or 0)) for s, c in rows]
    return np.array([r for r in rates if r is not None], dtype=np.float64)


def computed(session: Session, prompt_set_id: int) -> Baseline:
    """One set's baseline, computed now from its annotations (not stored)."""
    rates = _log_rates(session, prompt_set_id)
    median, scale = compute(rates)
    return Baseline(len(rates), median, scale, db_now(session))


def refresh(session: Session, prompt_set_id: int) -> Baseline:
    """Recompute one set's baseline from its annotations and store it (uncommitted)."""
    done = computed(session, prompt_set_id)
    row = {
        "prompt_set_id": prompt_set_id,
        "timed": done.timed,
        "median": done.median,
        "scale": done.scale,
        "computed_at": done.computed_at,
    }
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    upsert = module.insert(SpeedBaseline).values(row)
    changes = {k: upsert.excluded[k] for k in ("timed", "median", "scale", "computed_at")}
    session.execute(upsert.on_conflict_do_update(index_elements=["prompt_set_id"], set_=changes))
    return done


def load(session: Session, prompt_set_ids: Sequence[int] | None) -> dict[int, Baseline]:
    query = select(SpeedBaseline)
    if prompt_set_ids is not None:
        query = query.where(SpeedBaseline.prompt_set_id.in_(list(prompt_set_ids)))
    return {
        b.prompt_set_id: Baseline(b.timed, b.median, b.scale, b.computed_at)
        for b in session.scalars(query)
    }


def stale_sets(current: dict[int, int], stored: dict[int, Baseline]) -> list[int]:
    """Sets whose timed annotations (from the tallies) differ from their baseline's."""
    return sorted(s for s, timed in current.items() if s not in stored or stored[s].timed != timed)


def status(current: dict[int, int], stored: dict[int, Baseline]) -> BaselineStatus:
    times = [stored[s].computed_at for s in current if s in stored]
    as_of = min((t for t in times if t is not None), default=None)
    return BaselineStatus(as_of, not stale_sets(current, stored))


def current_timed(session: Session, prompt_set_ids: Sequence[int] | None) -> dict[int, int]:
    """Timed annotations per set, from the signal tallies (one row per set and annotator)."""
    t = AnnotatorSignalTally
    query = select(t.prompt_set_id, func.sum(t.timed)).group_by(t.prompt_set_id)
    if prompt_set_ids is not None:
        query = query.where(t.prompt_set_id.in_(list(prompt_set_ids)))
    return {s: int(n) for s, n in session.execute(query)}


_running: set[tuple[str, int]] = set()
_lock = threading.Lock()


def refresh_in_background(session: Session, prompt_set_ids: Sequence[int]) -> None:
    """Start one thread per stale set (unless this process already runs one) that
    recomputes its baseline in a session of its own and commits it. A session bound to one
    connection (the tests' rolled-back transaction) has no engine to open another session
    on: then nothing starts, and the baseline waits for an explicit `refresh`."""
    bind = session.get_bind()
    if not isinstance(bind, Engine):
        return
    database = bind.url.render_as_string(hide_password=True)
    for set_id in prompt_set_ids:
        key = (database, set_id)
        with _lock:
            if key in _running:
                continue
            _running.add(key)
        threading.Thread(
            target=_run, args=(bind, key), name=f"speed-baseline-{set_id}", daemon=True
        ).start()


def _run(engine: Engine, key: tuple[str, int]) -> None:
    try:
        with Session(engine) as session:
            refresh(session, key[1])
            session.commit()
    except Exception:  # a background job: log it, the next view tries again
        log.exception("speed baseline of prompt set %s failed", key[1])
    finally:
        with _lock:
            _running.discard(key)
