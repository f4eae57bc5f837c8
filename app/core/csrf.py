"""CSRF protection for cookie-authenticated requests.

Every browser session gets one random token, kept in the signed session cookie. Forms
send it as the `csrf_token` field; our JavaScript sends it as the `X-CSRF-Token` header.
Bearer-token API calls carry no cookie, so they need no CSRF token.
"""

from __future__ import annotations

from fastapi import Request

from app.core.errors import NotAllowed
from app.core.security import csrf_matches, new_csrf_token

SESSION_KEY = "csrf"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


def csrf_token(request: Request) -> str:
    token = request.session.get(SESSION_KEY)
    if not token:
        token = new_csrf_token()
        request.session[SESSION_KEY] = token
    return token


def check_header(request: Request) -> None:
    if not csrf_matches(request.session.get(SESSION_KEY), request.headers.get(HEADER)):
        raise NotAllowed(f"Missing or invalid CSRF token: send the {HEADER} header from the page.")


async def verify_csrf_form(request: Request) -> None:
    """Dependency for every state-changing form route."""
    if request.headers.get(HEADER):
        check_header(request)
        return
    form = await request.form()
    given = form.get(FORM_FIELD)
    if not csrf_matches(
        request.session.get(SESSION_KEY), given if isinstance(given, str) else None
    ):
        raise NotAllowed(
            "Missing or invalid CSRF token: reload the page and submit the form again."
        )
