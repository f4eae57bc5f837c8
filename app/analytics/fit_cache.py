"""Fitted statistics cached in the database, so every app process (and the CLI) reuses
them (issue 22): the annotators' reliability skills of an export's filters, the bootstrap
strength intervals of a set.

One row per (kind, key), holding the data version it was computed for, its payload (JSON)
and when the computation started. A reader compares the row's version with the current
one: equal, the payload is current; different, the caller decides (an export refits; the
strength table shows the old intervals while a refresh runs). The row is replaced, never
appended to: a key has one current answer.

Writes go through `store_off_request`: on a session of its own, in a thread, committed
there. The request or export that computed the value never writes: an export streams in a
read-only snapshot, and on SQLite a page's transaction holds the write lock until the
response is done, so a second connection writing inline would wait on it. Two processes
computing one key at once both upsert (INSERT ... ON CONFLICT DO UPDATE, both dialects):
neither errors, and the newer computation stays.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, ForeignKey, Index, String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.core.db import Base, JSONType

log = logging.getLogger(__name__)


class AnalyticsCache(Base):
    __tablename__ = "analytics_cache"
    __table_args__ = (Index("ix_analytics_cache_prompt_set_id", "prompt_set_id"),)

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The (lowest) prompt set the entry is about: deleting the set drops the entry.
    prompt_set_id: Mapped[int] = mapped_column(ForeignKey("prompt_set.id", ondelete="CASCADE"))
    data_version: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    computed_at: Mapped[dt.datetime]


@dataclass(frozen=True)
class Cached:
    data_version: str
    payload: dict[str, Any]
    computed_at: dt.datetime


def digest(value: Any) -> str:
    """A key or data version from JSON-able parts (sorted keys: order does not matter)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def load(session: Session, kind: str, key: str) -> Cached | None:
    row = session.execute(
        select(
            AnalyticsCache.data_version, AnalyticsCache.payload, AnalyticsCache.computed_at
        ).where(AnalyticsCache.kind == kind, AnalyticsCache.key == key)
    ).one_or_none()
    return None if row is None else Cached(row[0], row[1], row[2])


@dataclass(frozen=True)
class Entry:
    kind: str
    key: str
    prompt_set_id: int
    data_version: str
    payload: dict[str, Any]
    computed_at: dt.datetime


def store(session: Session, entry: Entry) -> None:
    """Upsert the entry (uncommitted); a row computed later than it is kept instead."""
    table = AnalyticsCache.__table__
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    upsert = module.insert(table).values(
        kind=entry.kind,
        key=entry.key,
        prompt_set_id=entry.prompt_set_id,
        data_version=entry.data_version,
        payload=entry.payload,
        computed_at=entry.computed_at,
    )
    columns = ("prompt_set_id", "data_version", "payload", "computed_at")
    session.execute(
        upsert.on_conflict_do_update(
            index_elements=["kind", "key"],
            set_={c: upsert.excluded[c] for c in columns},
            where=table.c.computed_at <= upsert.excluded.computed_at,
        )
    )


_writers: list[threading.Thread] = []
_lock = threading.Lock()


def store_off_request(session: Session, entry: Entry) -> None:
    """Store the entry in a thread with a session of its own on `session`'s engine, and
    commit it there. A session bound to one connection (the tests' rolled-back
    transaction) has no engine for another session: the entry goes into a savepoint of
    that transaction instead, seen by that session only."""
    bind = session.get_bind()
    if not isinstance(bind, Engine):
        with session.begin_nested():
            store(session, entry)
        return
    thread = threading.Thread(
        target=_write, args=(bind, entry), name=f"cache-{entry.kind}", daemon=True
    )
    with _lock:
        _writers[:] = [t for t in _writers if t.is_alive()]
        _writers.append(thread)
    thread.start()


def _write(engine: Engine, entry: Entry) -> None:
    try:
        with Session(engine) as session:
            store(session, entry)
            session.commit()
    except Exception:  # a cache: the next reader computes it again
        log.exception("storing %s %s failed", entry.kind, entry.key)


def wait_for_writes(timeout: float = 30.0) -> None:
    """Block until this process's pending cache writes are done (tests, benchmarks, the
    CLI before it exits)."""
    with _lock:
        pending = list(_writers)
    for thread in pending:
        thread.join(timeout)
