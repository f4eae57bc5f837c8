"""Single sign-on pages: the start (a redirect to the provider) and the callback.

Both are GETs. The start is a plain link because the CSP's `form-action 'self'` stops a
form from redirecting to another origin; it only records a pending sign-in, nothing a
forged request could abuse. The callback is where CSRF would bite (login CSRF: an
attacker's code landing in the victim's browser), and the state is its token: it must
equal the one in this browser's signed cookie AND name a pending sign-in kept
server-side, which the callback deletes (single use). The nonce ties the ID token to
that same sign-in, and PKCE ties the code to it.
"""

from __future__ import annotations

import contextlib
import secrets
import threading

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app.accounts import sso
from app.accounts.deps import SESSION_ID_KEY, OptionalUser, session_policy
from app.accounts.errors import UserInactive
from app.accounts.oidc import OidcProvider, ProviderSettings, ProviderUnavailable, SsoFailed
from app.accounts.pages import SSO_START_PATH, home_for, login_context, safe_next
from app.core.db import SessionDep
from app.core.errors import AppError, NotFound
from app.core.rate_limits import RateLimited, RateLimits, client_address
from app.core.templating import flash, render

# The signed cookie's key for the state of the sign-in this browser started.
STATE_KEY = "oidc_state"
SSO_SCOPE = "sso"
CALLBACK_PATH = "/login/oidc/callback"

router = APIRouter(tags=["pages"])
_provider_lock = threading.Lock()


def provider_for(request: Request) -> OidcProvider:
    """The app's one provider client (it caches discovery and keys); 404 when single
    sign-on is not configured."""
    settings = request.app.state.settings
    if not settings.oidc_enabled:
        raise NotFound("Single sign-on is not configured on this server.")
    with _provider_lock:
        provider = getattr(request.app.state, "oidc_provider", None)
        if provider is None:
            provider = OidcProvider(
                ProviderSettings(
                    issuer=settings.oidc_issuer,
                    client_id=settings.oidc_client_id,
                    client_secret=settings.oidc_client_secret,
                    scopes=settings.oidc_scopes,
                )
            )
            request.app.state.oidc_provider = provider
            request.app.state.on_shutdown.append(provider.close)  # its HTTP connections
    return provider


def role_policy(request: Request) -> sso.RolePolicy:
    settings = request.app.state.settings
    return sso.RolePolicy(
        default_role=settings.oidc_default_role,
        claim=settings.oidc_role_claim,
        role_map=settings.oidc_role_map,
    )


def redirect_uri(request: Request) -> str:
    """The callback's absolute URL, as registered at the provider. Behind a proxy it is
    right when uvicorn trusts the proxy's X-Forwarded-Proto (see docs/deploy.md)."""
    return str(request.base_url).rstrip("/") + CALLBACK_PATH


def _login_error(request: Request, exc: AppError, next_url: str = "") -> Response:
    context = login_context(request, next_url=next_url, error=exc.message)
    response = render(request, "accounts/login.html", context, status_code=exc.status)
    response.headers.update(exc.headers or {})
    return response


@router.get(SSO_START_PATH)
def sso_start(
    request: Request, session: SessionDep, user: OptionalUser, next: str | None = None
) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next) or home_for(user), status_code=303)
    provider = provider_for(request)
    try:
        started = sso.begin(
            session, provider, redirect_uri=redirect_uri(request), next_url=safe_next(next) or ""
        )
    except SsoFailed as exc:
        return _login_error(request, exc, next or "")
    request.session[STATE_KEY] = started.state
    return RedirectResponse(started.url, status_code=303)


@router.get(CALLBACK_PATH)
def sso_callback(
    request: Request,
    session: SessionDep,
    state: str = "",
    code: str = "",
    error: str = "",
    error_description: str = "",
) -> Response:
    provider = provider_for(request)
    limits: RateLimits = request.app.state.rate_limits
    address = client_address(request)
    # The state this browser started with; gone from the cookie whatever happens next.
    expected = request.session.pop(STATE_KEY, None)
    try:
        limits.check_address(SSO_SCOPE, address=address)
        if not state:
            raise SsoFailed("The sign-in provider sent no state; start again from the login page.")
        if not isinstance(expected, str) or not secrets.compare_digest(expected, state):
            raise SsoFailed(
                "This sign-in was not started in this browser, or has already finished; "
                "start again from the login page."
            )
        if error:
            with contextlib.suppress(SsoFailed):  # spent either way; the refusal says why
                sso.spend_attempt(session, state=state)
            raise SsoFailed(f"The sign-in provider refused: {error_description or error}.")
        if not code:
            raise SsoFailed("The sign-in provider sent no code; start again from the login page.")
        signed_in = sso.finish(
            session,
            provider,
            state=state,
            code=code,
            redirect_uri=redirect_uri(request),
            roles=role_policy(request),
            session_policy=session_policy(request),
        )
    except (SsoFailed, UserInactive, RateLimited) as exc:
        # A provider outage is not a guess: it must not lock people out once it is over.
        if isinstance(exc, SsoFailed) and not isinstance(exc, ProviderUnavailable):
            limits.address_failed(SSO_SCOPE, address=address)
        return _login_error(request, exc)
    # A fresh cookie on login, as for a password (session fixation); the id is new too.
    request.session.clear()
    request.session[SESSION_ID_KEY] = signed_in.session_token
    flash(request, f"Welcome, {signed_in.user.username}.")
    return RedirectResponse(safe_next(signed_in.next_url) or home_for(signed_in.user), 303)
