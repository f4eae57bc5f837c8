"""The gold_seed migration (issue 20, item 1): sets that exist before it each get their
own random secret, so no existing set keeps a predictable gold pace."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import text

from app.core import migrate
from app.core.db import make_engine

BEFORE = "5b1e0c7d9a42"  # the revision before prompt_set.gold_seed
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _old_sets(url: str, names: list[str]) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for name in names:
                conn.execute(
                    text(
                        "INSERT INTO prompt_set (name, description, guidelines, system_prompt,"
                        " generation, generators, candidates_per_prompt, annotators_per_prompt,"
                        " lease_seconds, require_rationale, require_ratings,"
                        " confirm_untouched_order, status, created_at, updated_at)"
                        " VALUES (:n, '', '', '', :g, '[]', 2, 1, 1800, false, false, true,"
                        " 'active', :t, :t)"
                    ),
                    {"n": name, "g": json.dumps({"model": "smollm2"}), "t": NOW},
                )
    finally:
        engine.dispose()


def test_existing_sets_get_a_secret_seed_each(tmp_path, fresh_postgres_url) -> None:
    for url in (f"sqlite:///{tmp_path / 'old.db'}", fresh_postgres_url):
        migrate.downgrade(url, "base") if url == fresh_postgres_url else None
        migrate.upgrade(url, BEFORE)
        _old_sets(url, ["one", "two", "three"])
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                seeds = conn.execute(text("SELECT gold_seed FROM prompt_set")).scalars().all()
        finally:
            engine.dispose()
        assert len(set(seeds)) == 3 and all(len(seed) == 32 for seed in seeds)
