"""The generators migration: existing sets get one generator, "default", made of their
settings, and their generated candidates are marked as its; downgrade drops it all."""

from __future__ import annotations

import json

from sqlalchemy import text

from app.core import migrate
from app.core.db import make_engine

BEFORE = "5e1b7a2c9d40"  # the schema before generators
NOW = "2026-11-30T00:00:00+00:00"


def _old_rows(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            generation = json.dumps(
                {"backend": "transformers", "model": "smollm2", "temperature": 0.6}
            )
            conn.execute(
                text(
                    "INSERT INTO prompt_set (id, name, description, guidelines, system_prompt,"
                    " generation, candidates_per_prompt, annotators_per_prompt, lease_seconds,"
                    " require_rationale, require_ratings, status, created_at, updated_at)"
                    " VALUES (1, 'old', '', '', '', :g, 2, 1, 1800, false, false, 'active', :t, :t)"
                ),
                {"g": generation, "t": NOW},
            )
            conn.execute(
                text(
                    "INSERT INTO prompt (id, prompt_set_id, text, metadata, content_hash, status,"
                    " candidates_ready, is_gold, created_at)"
                    " VALUES (1, 1, 'Hi?', '{}', :h, 'active', true, false, :t)"
                ),
                {"h": "a" * 64, "t": NOW},
            )
            for position, source in ((0, "generated"), (1, "imported")):
                conn.execute(
                    text(
                        "INSERT INTO candidate (prompt_id, position, text, model, source, sampling,"
                        " is_duplicate, created_at)"
                        " VALUES (1, :p, 'x', 'smollm2', :s, '{}', false, :t)"
                    ),
                    {"p": position, "s": source, "t": NOW},
                )
    finally:
        engine.dispose()


def test_existing_sets_migrate_to_one_generator(tmp_path, fresh_postgres_url) -> None:
    for url in (f"sqlite:///{tmp_path / 'old.db'}", fresh_postgres_url):
        migrate.downgrade(url, "base") if url == fresh_postgres_url else None
        migrate.upgrade(url, BEFORE)
        _old_rows(url)
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                raw = conn.execute(text("SELECT generators FROM prompt_set")).scalar_one()
                generators = json.loads(raw) if isinstance(raw, str) else raw
                assert generators == [
                    {
                        "name": "default",
                        "competes": True,
                        "settings": {
                            "backend": "transformers",
                            "model": "smollm2",
                            "temperature": 0.6,
                        },
                    }
                ]
                made_by = conn.execute(
                    text("SELECT source, generator FROM candidate ORDER BY position")
                ).all()
                assert [tuple(r) for r in made_by] == [("generated", "default"), ("imported", "")]
        finally:
            engine.dispose()
        migrate.downgrade(url, BEFORE)  # and back: nothing cascades away on the way
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                counts = [
                    conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in ("prompt_set", "prompt", "candidate")
                ]
                assert counts == [1, 1, 2]
        finally:
            engine.dispose()
        migrate.upgrade(url)
