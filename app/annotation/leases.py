"""Lease rules shared outside the assignment engine (e.g. deactivating a user)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from app.annotation.models import Assignment
from app.core.db import utcnow


def release_leases(session: Session, *, annotator_id: int) -> int:
    """Hand back every open lease of an annotator so the prompts return to the pool.

    Adds to the caller's transaction (no commit). Returns how many leases were released.
    """
    # An UPDATE's result is a CursorResult, which has the rowcount.
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Assignment)
            .where(Assignment.annotator_id == annotator_id, Assignment.status == "leased")
            .values(status="released", finished_at=utcnow())
        ),
    )
    return result.rowcount or 0
