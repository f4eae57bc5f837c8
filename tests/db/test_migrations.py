"""Migrations: empty -> head, head -> base -> head, and no drift from the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import app.models  # noqa: F401
from app.core import migrate
from app.core.db import Base, make_engine

EXPECTED_TABLES = {
    "user_account",
    "api_token",
    "prompt_set",
    "prompt",
    "candidate",
    "generation_job",
    "generation_task",
    "assignment",
    "annotation",
    "comparison",
    "browser_session",
    "shown_once_secret",
    "external_identity",
    "oidc_login_attempt",
}


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _drift(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def test_upgrade_from_empty_creates_every_table(db_url: str) -> None:
    # db_url was migrated from an empty database by the fixture.
    assert EXPECTED_TABLES <= _tables(db_url)
    engine = make_engine(db_url)
    try:
        assert migrate.is_up_to_date(engine)
    finally:
        engine.dispose()


def test_models_and_migrations_do_not_drift(db_url: str) -> None:
    assert _drift(db_url) == []


def test_downgrade_to_base_and_back(tmp_path, fresh_postgres_url: str) -> None:
    for url in (f"sqlite:///{tmp_path / 'roundtrip.db'}", fresh_postgres_url):
        migrate.upgrade(url)
        migrate.downgrade(url, "base")
        assert _tables(url) == set()
        migrate.upgrade(url)
        assert EXPECTED_TABLES <= _tables(url)
        assert _drift(url) == []
