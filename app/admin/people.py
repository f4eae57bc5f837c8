"""Admin actions on people that reach into the annotation domain."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.accounts import service as accounts_service
from app.annotation.leases import release_leases
from app.core.db import retry_once_on_conflict


def set_active(
    session: Session, *, user_id: int, active: bool, acting_user_id: int | None = None
) -> int:
    """Deactivate (or reactivate) a user. Deactivating hands their open leases back in the
    same transaction; their annotations stay. Returns how many leases were released.
    Locks the user row, then their leases (the lock order of app.annotation.assignment);
    a transaction PostgreSQL aborted as a deadlock victim is run once more."""

    def change() -> int:
        user = accounts_service.change_active(
            session, user_id=user_id, active=active, acting_user_id=acting_user_id
        )
        released = 0 if active else release_leases(session, annotator_id=user.id)
        session.commit()
        return released

    return retry_once_on_conflict(session, change)
