"""Who is calling, and may they: FastAPI dependencies every route uses.

API routes accept a bearer token (scripts) or the browser session cookie (our own JS).
A cookie-authenticated request that changes state must also carry the CSRF header,
since a browser attaches cookies to cross-site requests too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from app.accounts import service
from app.accounts.models import Role, User
from app.core.csrf import check_header
from app.core.db import SessionDep
from app.core.errors import NotAllowed, NotAuthenticated

SESSION_USER_KEY = "user_id"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def get_current_user(request: Request, session: SessionDep) -> User:
    token = _bearer_token(request)
    if token is not None:
        user = service.user_for_token(session, token)
        if user is None:
            raise NotAuthenticated("The API token is unknown or revoked.")
    else:
        user_id = request.session.get(SESSION_USER_KEY)
        user = session.get(User, user_id) if user_id is not None else None
        if user is None:
            raise NotAuthenticated(
                "Log in first, or send an API token as 'Authorization: Bearer ...'."
            )
        if request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
            check_header(request)
    if not user.is_active:
        request.session.pop(SESSION_USER_KEY, None)
        raise NotAllowed(f"The account {user.username!r} is deactivated; ask an admin.")
    request.state.user = user
    return user


def get_optional_user(request: Request, session: SessionDep) -> User | None:
    user_id = request.session.get(SESSION_USER_KEY)
    user = session.get(User, user_id) if user_id is not None else None
    if user is not None and user.is_active:
        request.state.user = user
        return user
    return None


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
