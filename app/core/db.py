"""Engine, sessions and the declarative base with a constraint naming convention."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event, make_url, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

log = logging.getLogger("ranklab.db")

# Alembic autogenerate and `alembic check` only stay stable when every constraint has a
# deterministic name; this convention also gives readable names in IntegrityError messages.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")
# For nullable JSON columns: Python None is stored as SQL NULL, not as the JSON value 'null',
# so "IS NULL" checks (such as a prompt's text-xor-messages rule) see what the code meant.
NullableJSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone type and hands back naive values; this re-attaches UTC so
    comparisons with `utcnow()` never mix naive and aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use app.core.db.utcnow()")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DatabaseClock(FunctionElement[dt.datetime]):
    """The database server's current time, as a SQL expression (issue 20, item 6).

    Lease times and their expiry checks use it, not `utcnow()`: several app processes
    share one database, and their clocks may disagree. PostgreSQL: `clock_timestamp()`,
    the time the expression is evaluated (`now()` is the transaction's start, which can
    be long before a lock wait ends). SQLite: `'now'`, to the millisecond (the embedded
    database lives on the app's own host, so its clock is that host's).
    """

    type = UTCDateTime()
    name = "database_clock"
    inherit_cache = True


@compiles(DatabaseClock, "postgresql")
def _postgres_clock(element: DatabaseClock, compiler: Any, **kw: Any) -> str:
    return "clock_timestamp()"


@compiles(DatabaseClock)
def _sqlite_clock(element: DatabaseClock, compiler: Any, **kw: Any) -> str:
    # Six fraction digits, the form the SQLite dialect reads back as microseconds.
    return "strftime('%Y-%m-%d %H:%M:%f000', 'now')"


_CLOCK = select(DatabaseClock())


def db_now(session: Session) -> dt.datetime:
    """The database's clock now (one round trip); see DatabaseClock."""
    return session.connection().execute(_CLOCK).scalar_one()


# PostgreSQL aborts one side of a lock cycle (deadlock_detected) and, under REPEATABLE
# READ or SERIALIZABLE, a transaction that lost a write race (serialization_failure).
_RETRYABLE_SQLSTATES = ("40P01", "40001")
T = TypeVar("T")


def is_retryable(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


def retry_once_on_conflict(session: Session, action: Callable[[], T]) -> T:
    """Run `action` (a whole transaction: it commits, or raises having written nothing
    that stays); if PostgreSQL aborted it as a deadlock victim or a serialization
    failure, roll back and run it once more (issue 20, item 3). Only for actions that
    are safe to repeat from the start, such as an idempotent submit or an admin toggle.
    The locks are taken in one order (app.annotation.assignment), so this is a safety
    net for a cycle we did not foresee, not the way conflicts are meant to end."""
    try:
        return action()
    except DBAPIError as exc:
        if not is_retryable(exc):
            raise
        log.warning("transaction aborted (%s), retrying once: %s", exc.orig, action)
        session.rollback()
    return action()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSONType}


def is_sqlite(url_or_engine: str | Engine) -> bool:
    url = url_or_engine if isinstance(url_or_engine, str) else str(url_or_engine.url)
    return url.startswith("sqlite")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a busy timeout.

    SQLite transactions start with BEGIN IMMEDIATE so that a read-then-write (claiming a
    task, a job) holds the single write lock from its first statement: two writers queue
    instead of both reading the same free row. This is our single-writer path on SQLite.
    """
    if is_sqlite(url):
        _ensure_sqlite_folder(url)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def _ensure_sqlite_folder(url: str) -> None:
    """The embedded default must work on a fresh machine: create the file's folder."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN IMMEDIATE works.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Long read-only work (streaming exports) opts out with the execution option
        # read_only_snapshot=True: a deferred BEGIN reads a WAL snapshot without taking the
        # write lock, so annotators can keep submitting while a large export streams.
        snapshot = conn.get_execution_options().get("read_only_snapshot", False)
        conn.exec_driver_sql("BEGIN" if snapshot else "BEGIN IMMEDIATE")


def read_only(session: Session) -> Session:
    """Make a fresh session's transaction a read-only snapshot (SQLite: a deferred BEGIN
    instead of BEGIN IMMEDIATE, see _configure_sqlite). No effect once a transaction began."""
    if not session.in_transaction():
        session.connection(execution_options={"read_only_snapshot": True})
    return session


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request. Closing it rolls back whatever was not committed.

    We never commit here: teardown runs after the response is sent, so a failed commit
    would follow a "Saved!" page. Service functions commit at the end of the action.

    An async generator (issue 11): a sync one costs two thread-pool hops per request.
    Making the session does no I/O, and neither does closing one whose work was
    committed (the connection went back to the pool at the commit); only a session still
    in a transaction (a read-only page, an error) is closed in the thread pool, since its
    ROLLBACK talks to the database.
    """
    session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(close_quietly, session)
        else:
            close_quietly(session)


def close_quietly(session: Session) -> None:
    """Close (rolling back) even when the database connection died under us.

    This runs after the response was sent; an exception here would only break the client's
    keep-alive connection. SQLAlchemy has already invalidated a dead connection, so the pool
    replaces it on the next checkout (with pool_pre_ping)."""
    try:
        session.close()
    except DBAPIError as exc:
        log.warning("closing a session failed (database connection lost): %s", exc.orig)


SessionDep = Annotated[Session, Depends(get_session)]
