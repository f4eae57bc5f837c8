"""The audit log over the API (admins only): cursor pages, and a streamed JSONL export.

There is no route that changes or deletes a row, by design (app.core.audit)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from app.accounts.deps import AdminUser
from app.admin import audit_query
from app.admin.audit_query import MAX_PAGE, AuditFilter
from app.core.db import SessionDep, read_only
from app.core.inputs import Count

router = APIRouter(prefix="/api/v1", tags=["audit"])


class AuditPage(BaseModel):
    events: list[dict[str, Any]]
    # Pass as `after` for the next page; null on the last one.
    next_cursor: int | None


def _query(
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> AuditFilter:
    return AuditFilter(actor, action, target_type, target_id, since, until)


FilterDep = Annotated[AuditFilter, Depends(_query)]


def _jsonl(request: Request, where: AuditFilter) -> StreamingResponse:
    make_session = request.app.state.sessionmaker

    def lines() -> Iterator[bytes]:
        # Its own read-only session: the request's closes once the response starts.
        with make_session() as session:
            read_only(session)
            for row in audit_query.iter_all(session, where):
                yield (json.dumps(audit_query.event_json(row)) + "\n").encode()

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="ranklab-audit.jsonl"'},
    )


@router.get("/audit", response_model=AuditPage)
def list_events(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    where: FilterDep,
    after: Annotated[Count | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    format: Annotated[Literal["json", "jsonl"], Query()] = "json",
) -> Any:
    """Audit events oldest first (by id), `limit` at a time; `next_cursor` is the next
    page's `after`. `action` ending in "." matches a prefix ("user."). Times are UTC
    (a time without a zone is read as UTC). `format=jsonl` streams every match instead."""
    if format == "jsonl":
        session.rollback()
        return _jsonl(request, where)
    rows, cursor = audit_query.page(session, where, after=after, limit=limit)
    return AuditPage(events=[audit_query.event_json(r) for r in rows], next_cursor=cursor)


@router.get("/audit.jsonl", response_class=StreamingResponse)
def export_events(
    request: Request, session: SessionDep, admin: AdminUser, where: FilterDep
) -> StreamingResponse:
    """Every matching audit event as JSON lines, oldest first, streamed."""
    session.rollback()  # end the request's transaction (SQLite: no lock held while streaming)
    return _jsonl(request, where)
