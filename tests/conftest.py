"""Shared fixtures: real databases (SQLite file, PostgreSQL), rolled back per test.

Database tests get `db_url` parametrized over both backends. A module whose tests do not
depend on what the database does (admin forms, roles, headers: no claim, submit, tally,
export or migration) says `pytestmark = pytest.mark.one_backend` and runs on PostgreSQL
only (issue 22: the suite ran everything twice); RANKLAB_TEST_ALL_BACKENDS=1 runs those on
both again. PostgreSQL comes from RANKLAB_TEST_POSTGRES_URL; without it those cases skip
locally, and with RANKLAB_REQUIRE_POSTGRES=1 (set by .ci/run) a missing server fails
instead of skipping.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import get_session, make_engine
from app.main import create_app
from tests.support import databases

BACKENDS = ("sqlite", "postgresql")
# The production database; backend-agnostic modules run here.
ONE_BACKEND = "postgresql"
ALL_BACKENDS_ENV = "RANKLAB_TEST_ALL_BACKENDS"
TESTED_BACKENDS: set[str] = set()
_fresh_counter = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_backends: runs on SQLite and PostgreSQL (the default)")
    config.addinivalue_line(
        "markers", f"one_backend: does not depend on the database; runs on {ONE_BACKEND} only"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`db_url` over both backends, or one for `one_backend` tests; a test that
    parametrizes `db_url` itself keeps its own list."""
    if "db_url" not in metafunc.fixturenames or "db_url" in _own_parameters(metafunc):
        return
    one = metafunc.definition.get_closest_marker("one_backend") is not None
    backends = [ONE_BACKEND] if one and not os.environ.get(ALL_BACKENDS_ENV) else BACKENDS
    metafunc.parametrize("db_url", backends, indirect=True, scope="session")


def _own_parameters(metafunc: pytest.Metafunc) -> set[str]:
    names: set[str] = set()
    for mark in metafunc.definition.iter_markers("parametrize"):
        argnames = mark.args[0] if mark.args else mark.kwargs["argnames"]
        if isinstance(argnames, str):
            argnames = argnames.split(",")
        names.update(name.strip() for name in argnames)
    return names


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under `pytest -n` each worker reports the databases it tested to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["tested_backends"] = sorted(TESTED_BACKENDS)
    databases.drop_migrated_template()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # type: ignore[no-untyped-def]  (xdist's hook)
    TESTED_BACKENDS.update(getattr(node, "workeroutput", {}).get("tested_backends", []))


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if TESTED_BACKENDS:
        terminalreporter.write_line(f"databases tested: {', '.join(sorted(TESTED_BACKENDS))}")


def _postgres_or_skip() -> None:
    if databases.postgres_admin_url() is None:
        if databases.postgres_required():
            pytest.fail(f"{databases.POSTGRES_URL_ENV} is not set but PostgreSQL is required")
        pytest.skip(f"set {databases.POSTGRES_URL_ENV} to run PostgreSQL tests")


@pytest.fixture(scope="session")
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database migrated to head, shared by the tests of one worker and backend."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "test.db"
        TESTED_BACKENDS.add("sqlite")
        yield databases.migrated(databases.sqlite_url(path))
        return
    _postgres_or_skip()
    name = f"ranklab_test_{databases.worker_suffix()}"
    url = databases.migrated_postgres_database(name)
    TESTED_BACKENDS.add("postgresql")
    yield url
    databases.drop_postgres_database(name)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database (session-wide) for PostgreSQL-only tests."""
    _postgres_or_skip()
    name = f"ranklab_pg_{databases.worker_suffix()}"
    url = databases.migrated_postgres_database(name)
    TESTED_BACKENDS.add("postgresql")
    yield url
    databases.drop_postgres_database(name)


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """An empty, migrated PostgreSQL database of its own, for tests that commit for real
    across connections or processes (concurrency, workers, live servers)."""
    _postgres_or_skip()
    name = f"ranklab_fresh_{databases.worker_suffix()}_{next(_fresh_counter)}"
    url = databases.migrated_postgres_database(name)
    TESTED_BACKENDS.add("postgresql")
    yield url
    databases.drop_postgres_database(name)


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test, so code
    under test may commit() freely."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key="x" * 48,
        run_worker_in_process=False,
    )


@pytest.fixture
def client(settings: Settings, engine: Engine, session: Session) -> Iterator[TestClient]:
    app = create_app(settings, engine=engine)
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app, base_url="http://testserver") as client:
        yield client
