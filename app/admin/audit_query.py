"""Reading the audit log (app.core.audit): filters, keyset pages by id, a JSON shape."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.core.audit import AuditEvent

MAX_PAGE = 500
EXPORT_BATCH = 1000


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A time filter without a zone is read as UTC (the log's clock is UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None  # the login name, exactly
    action: str | None = None  # exactly, or a prefix ending in "." ("user.")
    target_type: str | None = None
    target_id: str | None = None
    since: dt.datetime | None = None  # inclusive
    until: dt.datetime | None = None  # exclusive

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.actor:
            query = query.where(AuditEvent.actor_name == self.actor)
        if self.action:
            if self.action.endswith("."):
                query = query.where(AuditEvent.action.startswith(self.action, autoescape=True))
            else:
                query = query.where(AuditEvent.action == self.action)
        if self.target_type:
            query = query.where(AuditEvent.target_type == self.target_type)
        if self.target_id:
            query = query.where(AuditEvent.target_id == self.target_id)
        if self.since is not None:
            query = query.where(AuditEvent.at >= as_utc(self.since))
        if self.until is not None:
            query = query.where(AuditEvent.at < as_utc(self.until))
        return query


def page(
    session: Session,
    where: AuditFilter,
    *,
    after: int | None = None,
    before: int | None = None,
    limit: int = 100,
    newest_first: bool = False,
) -> tuple[list[AuditEvent], int | None]:
    """One page in id order (the order rows were written) and the cursor of the next
    page, or None at the end. Keyset paging: a row written meanwhile never shifts a page."""
    query = where.apply(select(AuditEvent))
    if after is not None:
        query = query.where(AuditEvent.id > after)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    order = AuditEvent.id.desc() if newest_first else AuditEvent.id.asc()
    rows = list(session.scalars(query.order_by(order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def iter_all(session: Session, where: AuditFilter) -> Iterator[AuditEvent]:
    """Every matching row in id order, a batch at a time (memory stays flat)."""
    after: int | None = None
    while True:
        rows, cursor = page(session, where, after=after, limit=EXPORT_BATCH)
        yield from rows
        if cursor is None:
            return
        after = cursor


def event_json(row: AuditEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "actor_id": row.actor_id,
        "actor_name": row.actor_name,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "request_id": row.request_id,
        "client_address": row.client_address,
        "changes": row.changes,
        "details": row.details,
    }
