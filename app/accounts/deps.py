"""Who is calling, and may they: FastAPI dependencies every route uses.

API routes accept a bearer token (scripts) or the browser session cookie (our own JS).
A cookie-authenticated request that changes state must also carry the CSRF header,
since a browser attaches cookies to cross-site requests too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.accounts import service, sessions
from app.accounts.models import Role, User
from app.core import request_context
from app.core.csrf import check_header
from app.core.db import SessionDep
from app.core.errors import NotAllowed, NotAuthenticated
from app.core.rate_limits import RateLimits

# The cookie's key for the browser session id (see app/accounts/sessions.py).
SESSION_ID_KEY = "sid"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Viewer:
    """Who is signed in, as plain values for templates: rendering (even of an error page
    after a rollback) must never touch lazy ORM state."""

    id: int
    username: str
    role: str
    is_expert: bool = False


def session_policy(request: Request) -> sessions.SessionPolicy:
    settings = request.app.state.settings
    return sessions.SessionPolicy(
        idle=dt.timedelta(seconds=settings.session_idle_seconds),
        absolute=dt.timedelta(seconds=settings.session_max_age_seconds),
    )


def _remember(request: Request, user: User, browser_session_id: int | None) -> None:
    request.state.user = user
    request.state.viewer = Viewer(user.id, user.username, user.role, user.is_expert)
    request.state.browser_session_id = browser_session_id
    # The actor of any audit row this request records (app.core.audit).
    request_context.set_actor(user.id, user.username)


def _session_user(request: Request, session: Session) -> tuple[User, int] | None:
    token = request.session.get(SESSION_ID_KEY)
    if not isinstance(token, str) or not token:
        return None
    found = sessions.resolve(session, token, policy=session_policy(request))
    if found is None:
        request.session.pop(SESSION_ID_KEY, None)
        return None
    row, user = found
    return user, row.id


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def get_current_user(request: Request, session: SessionDep) -> User:
    token = _bearer_token(request)
    browser_session_id = None
    if token is not None:
        found = service.token_and_user(session, token)
        if found is None:
            raise NotAuthenticated("The API token is unknown or revoked.")
        token_id, user = found
        limits: RateLimits = request.app.state.rate_limits
        limits.check_api_token(token_id)
    else:
        found_session = _session_user(request, session)
        if found_session is None:
            raise NotAuthenticated(
                "Log in first, or send an API token as 'Authorization: Bearer ...'."
            )
        user, browser_session_id = found_session
        if request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
            check_header(request)
    if not user.is_active:
        request.session.pop(SESSION_ID_KEY, None)
        raise NotAllowed(f"The account {user.username!r} is deactivated; ask an admin.")
    _remember(request, user, browser_session_id)
    return user


def get_optional_user(request: Request, session: SessionDep) -> User | None:
    found = _session_user(request, session)
    if found is None or not found[0].is_active:
        return None
    _remember(request, *found)
    return found[0]


CurrentUser = Annotated[User, Depends(get_current_user)]
OptionalUser = Annotated[User | None, Depends(get_optional_user)]


def require_role(*roles: Role) -> Callable[[User], Awaitable[User]]:
    allowed = {r.value for r in roles}
    names = " or ".join(sorted(allowed))

    # async: a pure check, so FastAPI runs it on the event loop instead of a thread hop.
    async def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise NotAllowed(f"This needs the {names} role; you are signed in as {user.role}.")
        return user

    return check


AdminUser = Annotated[User, Depends(require_role(Role.admin))]
ResearcherUser = Annotated[User, Depends(require_role(Role.researcher, Role.admin))]
# Admins may annotate too (to try the task out or fill gaps); researchers only read.
AnnotatorUser = Annotated[User, Depends(require_role(Role.annotator, Role.admin))]


async def _require_adjudicator(user: CurrentUser) -> User:
    if user.role != Role.admin.value and not user.is_expert:
        raise NotAllowed("Settling contested prompts needs the admin role or an expert account.")
    return user


# Admins, and anyone an admin marked as an expert: the adjudication queue (issue 13).
AdjudicatorUser = Annotated[User, Depends(_require_adjudicator)]
