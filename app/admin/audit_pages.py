"""The audit log page (admins only): newest first, filters, a link to the JSONL export."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.accounts.deps import AdminUser
from app.admin import audit_query
from app.admin.audit_api import FilterDep
from app.core.audit import ACTIONS
from app.core.db import SessionDep
from app.core.inputs import Count
from app.core.templating import render

router = APIRouter(tags=["pages"])
PAGE_SIZE = 100


def _iso(value: dt.datetime | None) -> str:
    return value.isoformat() if value else ""


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    where: FilterDep,
    before: Annotated[Count | None, Query()] = None,
) -> HTMLResponse:
    rows, cursor = audit_query.page(
        session, where, before=before, limit=PAGE_SIZE, newest_first=True
    )
    values = {
        "actor": where.actor or "",
        "action": where.action or "",
        "target_type": where.target_type or "",
        "target_id": where.target_id or "",
        "since": _iso(where.since),
        "until": _iso(where.until),
    }
    query = {k: v for k, v in values.items() if v}
    context = {
        "rows": rows,
        "values": values,
        "actions": ACTIONS,
        "older_url": f"/admin/audit?{urlencode({**query, 'before': cursor})}" if cursor else None,
        "export_url": f"/api/v1/audit.jsonl?{urlencode(query)}",
    }
    return render(request, "audit/audit_log.html", context)
