"""Bootstrap intervals of the model strengths: computed off the request, cached in the
database (app.analytics.fit_cache) with the data version (the win counts) they belong to,
and reported with their "as of" time — the same for every app process (issue 22).

The point estimates are one Bradley–Terry fit of the small win matrix, cheap on every
request. The 95% intervals need a couple of hundred fits; a request that finds them
computed for other win counts gets those (marked with their time and as not current)
while a background thread computes the new ones. The first request for a set computes
them inline: there is nothing older to show.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.analytics import fit_cache
from app.analytics.strength import ModelPair, Strength, bradley_terry
from app.core.db import utcnow

log = logging.getLogger(__name__)

CACHE_KIND = "strength_intervals"
Version = tuple[tuple[ModelPair, int], ...]


@dataclass(frozen=True)
class StrengthsAsOf:
    strengths: dict[str, Strength]
    as_of: dt.datetime | None  # when the intervals were computed
    current: bool  # False: the intervals belong to older win counts (a refresh is running)


def _version(wins: Mapping[ModelPair, int]) -> Version:
    return tuple(sorted((pair, n) for pair, n in wins.items() if n))


def _entry(prompt_set_id: int, version: Version) -> fit_cache.Entry:
    started = utcnow()
    fitted = bradley_terry(dict(version))
    payload = {m: [s.strength, s.ci_low, s.ci_high] for m, s in fitted.items()}
    return fit_cache.Entry(
        CACHE_KIND, str(prompt_set_id), prompt_set_id, fit_cache.digest(version), payload, started
    )


def _strengths(payload: Mapping[str, list[float | None]]) -> dict[str, Strength]:
    return {m: Strength(float(s or 0.0), lo, hi) for m, (s, lo, hi) in payload.items()}


_running: set[tuple[str, int]] = set()
_lock = threading.Lock()


def _refresh_in_background(session: Session, prompt_set_id: int, version: Version) -> None:
    """One thread per set and process recomputes and stores the intervals; a session bound
    to one connection (the tests') has no engine for it, so the refresh waits."""
    bind = session.get_bind()
    if not isinstance(bind, Engine):
        return
    key = (bind.url.render_as_string(hide_password=True), prompt_set_id)

    def run() -> None:
        try:
            with Session(bind) as own:
                fit_cache.store(own, _entry(prompt_set_id, version))
                own.commit()
        except Exception:  # a background job: log it, the next view tries again
            log.exception("strength intervals of prompt set %s failed", prompt_set_id)
        finally:
            with _lock:
                _running.discard(key)

    with _lock:
        if key in _running:
            return
        _running.add(key)
    threading.Thread(target=run, name=f"strength-intervals-{prompt_set_id}", daemon=True).start()


def refreshing() -> bool:
    """Whether this process still runs a refresh (tests wait on it)."""
    with _lock:
        return bool(_running)


def strengths(session: Session, prompt_set_id: int, wins: Mapping[ModelPair, int]) -> StrengthsAsOf:
    """Strengths for the current win counts, with the newest intervals there are."""
    version = _version(wins)
    cached = fit_cache.load(session, CACHE_KIND, str(prompt_set_id))
    if cached is None:
        done = _entry(prompt_set_id, version)
        fit_cache.store_off_request(session, done)
        return StrengthsAsOf(_strengths(done.payload), done.computed_at, True)
    old = _strengths(cached.payload)
    if cached.data_version == fit_cache.digest(version):
        return StrengthsAsOf(old, cached.computed_at, True)
    _refresh_in_background(session, prompt_set_id, version)
    points = bradley_terry(dict(version), bootstrap=0)
    merged = {
        model: Strength(
            s.strength,
            old[model].ci_low if model in old else None,
            old[model].ci_high if model in old else None,
        )
        for model, s in points.items()
    }
    return StrengthsAsOf(merged, cached.computed_at, False)
