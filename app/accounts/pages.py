"""Login and logout pages."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.accounts import service
from app.accounts.deps import SESSION_ID_KEY, OptionalUser, session_policy
from app.accounts.errors import LoginFailed, PasswordLoginOff, UserInactive
from app.accounts.models import Role, User
from app.core.csrf import verify_csrf_form
from app.core.db import SessionDep
from app.core.rate_limits import RateLimited, RateLimits, client_address
from app.core.templating import flash, render

LOGIN_SCOPE = "login"
# The audit log's reason for each refusal (app.accounts.service.record_failed_login).
_FAILURE = {LoginFailed: "wrong_password", UserInactive: "inactive", RateLimited: "rate_limited"}
# The single sign-on button's target (app/accounts/sso_pages.py).
SSO_START_PATH = "/login/oidc"

router = APIRouter(tags=["pages"])


def home_for(user: User) -> str:
    if user.role == Role.annotator:
        return "/annotate"
    if user.role == Role.researcher:
        return "/research"
    return "/admin"


def safe_next(next_url: str | None) -> str | None:
    """Only same-site relative paths, so the login form can't bounce users elsewhere."""
    if not next_url:
        return None
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc or not next_url.startswith("/") or next_url.startswith("//"):
        return None
    return next_url


def login_context(
    request: Request,
    username: str = "",
    next_url: str | None = None,
    error: str | None = None,
) -> dict:
    settings = request.app.state.settings
    next_path = safe_next(next_url) or ""
    sso_url = None
    if settings.oidc_enabled:
        sso_url = SSO_START_PATH + (f"?{urlencode({'next': next_path})}" if next_path else "")
    return {
        "username": username,
        "next": next_path,
        "error": error,
        "password_login": settings.password_login,
        "sso_name": settings.oidc_display_name,
        "sso_url": sso_url,
    }


@router.get("/")
def index(user: OptionalUser) -> Response:
    return RedirectResponse(home_for(user) if user else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request, user: OptionalUser, next: str | None = None) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next) or home_for(user), status_code=303)
    return render(request, "accounts/login.html", login_context(request, next_url=next))


async def require_password_login(request: Request) -> None:
    """Before the CSRF check: with password login off, a password POST is refused outright
    (nothing is checked, counted or written), with a message that says where to go."""
    settings = request.app.state.settings
    if not settings.password_login:
        raise PasswordLoginOff(
            "Password login is turned off on this server; "
            f"use 'Sign in with {settings.oidc_display_name}' on the login page."
        )


@router.post("/login", dependencies=[Depends(require_password_login), Depends(verify_csrf_form)])
def login_submit(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    limits: RateLimits = request.app.state.rate_limits
    account, address = username.strip(), client_address(request)
    try:
        limits.check_guessing(LOGIN_SCOPE, account=account, address=address)
        user, session_token = service.log_in(
            session, username=account, password=password, policy=session_policy(request)
        )
    except (LoginFailed, UserInactive, RateLimited) as exc:
        if isinstance(exc, LoginFailed):
            limits.guess_failed(LOGIN_SCOPE, account=account, address=address)
        session.rollback()
        service.record_failed_login(session, username=account, reason=_FAILURE[type(exc)])
        context = login_context(request, username, next, exc.message)
        response = render(request, "accounts/login.html", context, status_code=exc.status)
        response.headers.update(exc.headers or {})
        return response
    limits.guess_succeeded(LOGIN_SCOPE, account=account)
    # A fresh cookie on login: drops any pre-login state (session fixation); the session
    # id itself is new for every login (app/accounts/sessions.py).
    request.session.clear()
    request.session[SESSION_ID_KEY] = session_token
    flash(request, f"Welcome, {user.username}.")
    return RedirectResponse(safe_next(next) or home_for(user), status_code=303)


@router.post("/logout", dependencies=[Depends(verify_csrf_form)])
def logout(request: Request, session: SessionDep) -> Response:
    session_token = request.session.get(SESSION_ID_KEY)
    if isinstance(session_token, str):
        service.log_out(session, session_token=session_token)
    request.session.clear()
    flash(request, "You are logged out.")
    return RedirectResponse("/login", status_code=303)
