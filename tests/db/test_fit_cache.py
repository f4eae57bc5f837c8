"""The analytics cache's upsert under a race: two connections (as two app processes)
storing one key at once both succeed, and the later computation is the row kept
(SQLite: the second writer waits for the lock; PostgreSQL: for the first's row)."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from app.analytics import fit_cache
from app.prompt_sets.models import PromptSet
from tests.factories.prompt_sets import make_prompt_set

T0 = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)


def entry(set_id: int, version: str, minutes: int) -> fit_cache.Entry:
    at = T0 + dt.timedelta(minutes=minutes)
    return fit_cache.Entry("race", "one-key", set_id, version, {"v": version}, at)


def test_two_writers_of_one_key_both_succeed_and_the_newer_stays(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        set_id = make_prompt_set(session, prompts=0).id
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            with Session(engine) as other:
                fit_cache.store(other, entry(set_id, "newer", 2))
                other.commit()
        except BaseException as exc:  # reported below: a thread's assert would be lost
            errors.append(exc)

    try:
        with Session(engine) as first:
            fit_cache.store(first, entry(set_id, "older", 1))  # holds the row (or the lock)
            thread = threading.Thread(target=second_writer)
            thread.start()
            thread.join(0.5)
            assert thread.is_alive()  # waiting on the first writer: the race is real
            first.commit()
        thread.join(30)
        assert not thread.is_alive() and errors == []
        with Session(engine) as session:
            kept = fit_cache.load(session, "race", "one-key")
            assert kept is not None and kept.data_version == "newer"
            # An older computation arriving last does not replace a newer one.
            fit_cache.store(session, entry(set_id, "oldest", 0))
            session.commit()
            kept = fit_cache.load(session, "race", "one-key")
        assert kept is not None and kept.payload == {"v": "newer"}
    finally:
        with Session(engine) as session:
            session.execute(delete(PromptSet).where(PromptSet.id == set_id))
            session.commit()
