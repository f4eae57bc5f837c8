"""Bootstrap intervals are cached in the database per data version (the win counts), read
by any engine (another process's), and refreshed in the background (SQLite, PostgreSQL)."""

from __future__ import annotations

import time

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from app.analytics import fit_cache, intervals
from app.analytics.strength import bradley_terry
from app.core.db import make_engine
from app.prompt_sets.models import PromptSet
from tests.factories.prompt_sets import make_prompt_set


def test_intervals_are_cached_per_version_and_refreshed_off_the_request(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        set_id = make_prompt_set(session, prompts=0).id  # committed: other engines see it
    other = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        wins = {("big", "small"): 30, ("small", "big"): 10}
        with Session(engine) as session:
            first = intervals.strengths(session, set_id, wins)
        assert first.current and first.as_of is not None
        assert first.strengths == bradley_terry(wins)
        fit_cache.wait_for_writes()
        # Another engine (as another app process) gets the stored intervals: same time.
        with Session(other) as session:
            assert intervals.strengths(session, set_id, wins) == first

        more = {("big", "small"): 60, ("small", "big"): 10}
        with Session(other) as session:
            stale = intervals.strengths(session, set_id, more)
        assert not stale.current and stale.as_of == first.as_of
        # The point estimates are for the new counts; the intervals still the old ones.
        assert stale.strengths["big"].strength == bradley_terry(more, bootstrap=0)["big"].strength
        assert stale.strengths["big"].ci_low == first.strengths["big"].ci_low
        deadline = time.monotonic() + 30
        while intervals.refreshing():
            assert time.monotonic() < deadline, "the background refresh never finished"
            time.sleep(0.05)
        with Session(engine) as session:
            fresh = intervals.strengths(session, set_id, more)
            rows = session.scalar(
                select(func.count()).where(fit_cache.AnalyticsCache.prompt_set_id == set_id)
            )
        assert fresh.current and fresh.strengths == bradley_terry(more)
        assert fresh.as_of is not None and first.as_of is not None and fresh.as_of > first.as_of
        assert rows == 1  # one entry per set, replaced
    finally:
        other.dispose()
        with Session(engine) as session:
            session.execute(delete(PromptSet).where(PromptSet.id == set_id))
            session.commit()
