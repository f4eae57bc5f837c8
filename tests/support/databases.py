"""Real test databases: a migrated SQLite file or a PostgreSQL database per xdist worker."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from app.core import migrate

POSTGRES_URL_ENV = "RANKLAB_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "RANKLAB_REQUIRE_POSTGRES"


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_URL_ENV) or None


def postgres_required() -> bool:
    return os.environ.get(REQUIRE_POSTGRES_ENV, "") not in ("", "0")


def worker_suffix() -> str:
    """Unique per checkout and xdist worker, so parallel runs on one server never collide."""
    checkout = hashlib.sha1(str(Path(__file__).resolve()).encode()).hexdigest()[:6]
    return f"{checkout}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def create_postgres_database(name: str) -> str:
    """(Re)create an empty database on the test server and return its URL."""
    admin_url = make_url(postgres_admin_url())
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(name: str) -> None:
    admin = create_engine(make_url(postgres_admin_url()), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def migrated(url: str) -> str:
    migrate.upgrade(url)
    return url


# This session's migrated template database (one per checkout and xdist worker), made on
# first use: see migrated_postgres_database.
_template: str | None = None


def migrated_postgres_database(name: str) -> str:
    """(Re)create database `name` already migrated to head, as a copy of a template that
    this session migrated once (issue 22: `CREATE DATABASE … TEMPLATE` takes about 0.2 s
    where creating and running every migration took about 1.6 s, for each of the suite's
    fresh databases). The migrations still run for real, once per session per worker, on
    the same code; the migration tests check their own chain on their own databases."""
    global _template
    if _template is None:
        template = f"ranklab_template_{worker_suffix()}"
        migrated(create_postgres_database(template))  # closes its connections when done
        _template = template
    admin_url = make_url(postgres_admin_url())
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_template}"'))
    finally:
        admin.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)


def drop_migrated_template() -> None:
    """At the end of the session: drop this worker's template, if it made one."""
    global _template
    if _template is not None:
        drop_postgres_database(_template)
        _template = None
