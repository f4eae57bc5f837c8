"""Server-side browser sessions and the secrets shown once to one of them.

The signed cookie carries only a random session id (plus the CSRF token and flash
messages, which are not secret). Whether that id still means "logged in" is decided
here, by a row in `browser_session`: deleting the rows of a user logs them out
everywhere at once (logout, password reset, deactivation).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.accounts.models import BrowserSession, ShownOnceSecret, User
from app.core.db import utcnow
from app.core.security import hash_api_token

# Moving expires_at on every request would turn every page view into a write.
TOUCH_INTERVAL = dt.timedelta(minutes=1)
# A shown-once secret not displayed within this time is dropped unseen.
SECRET_TTL = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class SessionPolicy:
    idle: dt.timedelta
    """A session unused this long ends (sliding expiry)."""
    absolute: dt.timedelta
    """No session lives longer than this after login, however active."""


@dataclass(frozen=True)
class ShownSecret:
    label: str
    secret: str


def start(session: Session, *, user: User, policy: SessionPolicy) -> tuple[BrowserSession, str]:
    """A new session row for a login; returns it and the id for the cookie (never stored).

    Adds and flushes only: the login's one commit is the caller's.
    """
    now = utcnow()
    token = secrets.token_urlsafe(32)
    row = BrowserSession(
        user_id=user.id,
        token_hash=hash_api_token(token),
        created_at=now,
        last_seen_at=now,
        expires_at=min(now + policy.idle, now + policy.absolute),
        absolute_expires_at=now + policy.absolute,
    )
    session.add(row)
    # Expired rows of this user are dead weight; a login is a natural moment to drop them.
    session.execute(
        delete(BrowserSession).where(
            BrowserSession.user_id == user.id, BrowserSession.expires_at < now
        )
    )
    session.flush()
    return row, token


def resolve(
    session: Session, token: str, *, policy: SessionPolicy
) -> tuple[BrowserSession, User] | None:
    """The live session and its user for a cookie's session id, or None.

    Slides the expiry forward (at most once per TOUCH_INTERVAL, committing that touch).
    """
    found = session.execute(
        select(BrowserSession, User)
        .join(User, User.id == BrowserSession.user_id)
        .where(BrowserSession.token_hash == hash_api_token(token))
    ).first()
    if found is None:
        return None
    row, user = found
    now = utcnow()
    if row.expires_at <= now or row.absolute_expires_at <= now:
        return None
    if now - row.last_seen_at > TOUCH_INTERVAL:
        row.last_seen_at = now
        row.expires_at = min(now + policy.idle, row.absolute_expires_at)
        session.commit()
    return row, user


def end(session: Session, token: str) -> None:
    """Logout: this browser's session row goes; the caller commits."""
    session.execute(
        delete(BrowserSession).where(BrowserSession.token_hash == hash_api_token(token))
    )


def end_all_for_user(session: Session, *, user_id: int, keep_id: int | None = None) -> None:
    """Revoke every session of a user (password reset, deactivation); the caller commits.

    `keep_id` spares the session doing the change when users change their own password.
    """
    stmt = delete(BrowserSession).where(BrowserSession.user_id == user_id)
    if keep_id is not None:
        stmt = stmt.where(BrowserSession.id != keep_id)
    session.execute(stmt)


def add_shown_once(session: Session, *, browser_session_id: int, label: str, secret: str) -> None:
    """Queue a secret for the next page this browser session sees; the caller commits."""
    session.add(ShownOnceSecret(browser_session_id=browser_session_id, label=label, secret=secret))
    session.flush()


def take_shown_once(session: Session, *, browser_session_id: int) -> list[ShownSecret]:
    """The secrets waiting for this session, deleted as they are read (shown exactly once)."""
    rows = list(
        session.scalars(
            select(ShownOnceSecret)
            .where(ShownOnceSecret.browser_session_id == browser_session_id)
            .order_by(ShownOnceSecret.id)
        )
    )
    if not rows:
        return []
    fresh_after = utcnow() - SECRET_TTL
    shown = [ShownSecret(r.label, r.secret) for r in rows if r.created_at > fresh_after]
    session.execute(delete(ShownOnceSecret).where(ShownOnceSecret.id.in_([r.id for r in rows])))
    session.commit()
    return shown
