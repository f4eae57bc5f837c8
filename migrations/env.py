"""Alembic environment: our metadata, our engine settings, one migrator at a time."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

import app.models  # noqa: F401  (registers every table on Base.metadata)
from app.core.config import get_settings
from app.core.db import Base, is_sqlite, make_engine

config = context.config
target_metadata = Base.metadata

# Several app processes may start at once against one PostgreSQL: an advisory lock makes
# the second wait for the first instead of racing it through the same DDL.
MIGRATION_LOCK_ID = 7_261_531


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().sqlalchemy_url


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite(str(connection.engine.url)),  # SQLite can't ALTER much
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            _sqlite_foreign_keys(connection, on=False)
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
        try:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
                connection.commit()
            if connection.dialect.name == "sqlite":
                _sqlite_foreign_keys(connection, on=True)
    engine.dispose()


def _sqlite_foreign_keys(connection, *, on: bool) -> None:
    """Batch migrations on SQLite rebuild a table (copy, DROP, rename). With foreign keys on,
    that DROP deletes every row that references the table through ON DELETE CASCADE (all the
    prompts of a rebuilt prompt_set), so they are off while migrating, as Alembic's batch
    docs advise. The pragma only takes effect outside a transaction, hence the raw DBAPI
    connection; afterwards foreign_key_check must find no dangling reference."""
    raw = connection.connection.dbapi_connection
    raw.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    if on:
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration left dangling foreign keys: {broken[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
