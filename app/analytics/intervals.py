"""Bootstrap intervals of the model strengths: computed off the request, cached with the
data version (the win counts) they belong to, and reported with their "as of" time.

The point estimates are one Bradley–Terry fit of the small win matrix, cheap on every
request. The 95% intervals need a couple of hundred fits; a request that finds them
computed for other win counts gets those (marked with their time and as not current)
while a background thread computes the new ones. The first request for a set in a
process computes them inline: there is nothing older to show.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from app.analytics.strength import ModelPair, Strength, bradley_terry
from app.core.db import utcnow

Version = tuple[tuple[ModelPair, int], ...]


@dataclass(frozen=True)
class Intervals:
    version: Version
    computed_at: dt.datetime
    strengths: dict[str, Strength]


@dataclass(frozen=True)
class StrengthsAsOf:
    strengths: dict[str, Strength]
    as_of: dt.datetime | None  # when the intervals were computed
    current: bool  # False: the intervals belong to older win counts (a refresh is running)


_cache: dict[int, Intervals] = {}
_running: set[int] = set()
_lock = threading.Lock()


def _version(wins: Mapping[ModelPair, int]) -> Version:
    return tuple(sorted((pair, n) for pair, n in wins.items() if n))


def _compute(prompt_set_id: int, version: Version) -> Intervals:
    done = Intervals(version, utcnow(), bradley_terry(dict(version)))
    with _lock:
        old = _cache.get(prompt_set_id)
        if old is None or old.computed_at <= done.computed_at:
            _cache[prompt_set_id] = done
    return done


def _refresh_in_background(prompt_set_id: int, version: Version) -> None:
    def run() -> None:
        try:
            _compute(prompt_set_id, version)
        finally:
            with _lock:
                _running.discard(prompt_set_id)

    with _lock:
        if prompt_set_id in _running:
            return
        _running.add(prompt_set_id)
    threading.Thread(target=run, name=f"strength-intervals-{prompt_set_id}", daemon=True).start()


def strengths(prompt_set_id: int, wins: Mapping[ModelPair, int]) -> StrengthsAsOf:
    """Strengths for the current win counts, with the newest intervals there are."""
    version = _version(wins)
    with _lock:
        cached = _cache.get(prompt_set_id)
    if cached is None:
        cached = _compute(prompt_set_id, version)
    if cached.version == version:
        return StrengthsAsOf(cached.strengths, cached.computed_at, True)
    _refresh_in_background(prompt_set_id, version)
    points = bradley_terry(dict(version), bootstrap=0)
    merged = {
        model: Strength(
            s.strength,
            cached.strengths[model].ci_low if model in cached.strengths else None,
            cached.strengths[model].ci_high if model in cached.strengths else None,
        )
        for model, s in points.items()
    }
    return StrengthsAsOf(merged, cached.computed_at, False)
