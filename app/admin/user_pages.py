"""Admin pages for people: create, reset passwords, deactivate, invites, tokens.

Also the public invite page where an invited annotator sets their password once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.accounts import service, sessions
from app.accounts.deps import AdminUser
from app.accounts.models import ROLE_VALUES, User
from app.admin import people
from app.analytics.reports import annotator_signals, annotator_stats, signals_as_of
from app.annotation import standing
from app.core.csrf import verify_csrf_form
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.forms import FormFields
from app.core.inputs import Id
from app.core.rate_limits import RateLimits, client_address
from app.core.templating import flash, render

router = APIRouter(tags=["pages"])
CSRF = [Depends(verify_csrf_form)]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _show_to(request: Request) -> service.ShowTo:
    """New secrets are shown once to this browser session, from a server-side record."""
    return service.ShowTo(request.state.browser_session_id, str(request.base_url))


def users_context(
    session: Session, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None
) -> dict:
    stats = {row.user_id: row for row in annotator_stats(session)}
    return {
        "users": service.list_users(session),
        "stats": stats,
        "signals": annotator_signals(session),
        "signals_as_of": signals_as_of(session),
        "roles": ROLE_VALUES,
        "values": values or {"username": "", "role": "annotator"},
        "errors": errors or {},
    }


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, admin: AdminUser) -> HTMLResponse:
    return render(request, "accounts/admin_users.html", users_context(session))


def _field_errors(exc: AppError) -> dict[str, str]:
    errors = {e.get("field") or "form": e["message"] for e in exc.errors}
    return errors or {"form": exc.message}


@router.post("/admin/users", dependencies=CSRF)
def create_user(
    request: Request, session: SessionDep, admin: AdminUser, form: FormFields
) -> Response:
    username, role, password = (
        form.get("username", "").strip(),
        form.get("role", ""),
        form.get("password", ""),
    )
    try:
        if password:
            user = service.create_user(session, username=username, password=password, role=role)
            flash(request, f"Created {user.role} {user.username!r}.")
        else:
            user, _ = service.invite_user(
                session, username=username, role=role, show_to=_show_to(request)
            )
    except AppError as exc:
        session.rollback()
        errors = _field_errors(exc)
        if exc.code == "username_taken":
            errors = {"username": exc.message}
        context = users_context(session, {"username": username, "role": role}, errors)
        return render(request, "accounts/admin_users.html", context, status_code=422)
    return _see_other(f"/admin/users/{user.id}")


def user_context(
    session: Session,
    user_id: Id,
    errors: dict[str, str] | None = None,
    secrets: list[sessions.ShownSecret] | None = None,
) -> dict:
    user = service.load_user(session, user_id)
    stats = [row for row in annotator_stats(session) if row.user_id == user_id]
    return {
        "user": user,
        "tokens": service.list_tokens(session, user_id=user_id),
        "rows": stats,
        "standings": standing.list_standings(session, annotator_id=user_id),
        "signals": annotator_signals(session).get(user_id),
        "signals_as_of": signals_as_of(session),
        "errors": errors or {},
        "secrets": secrets or [],
    }


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
def user_page(user_id: Id, request: Request, session: SessionDep, admin: AdminUser) -> HTMLResponse:
    shown = sessions.take_shown_once(session, browser_session_id=request.state.browser_session_id)
    return render(request, "accounts/admin_user.html", user_context(session, user_id, None, shown))


@router.post("/admin/users/{user_id}/password", dependencies=CSRF)
def reset_password(
    user_id: Id, request: Request, session: SessionDep, admin: AdminUser, form: FormFields
) -> Response:
    password = form.get("password", "")
    # An admin resetting their own password stays logged in here; every other session ends.
    keep = request.state.browser_session_id if user_id == admin.id else None
    try:
        user = service.reset_password(
            session, user_id=user_id, password=password, keep_session_id=keep
        )
    except AppError as exc:
        context = user_context(session, user_id, {"password": exc.message})
        return render(request, "accounts/admin_user.html", context, status_code=exc.status)
    flash(request, f"New password set for {user.username!r}.")
    return _see_other(f"/admin/users/{user_id}")


@router.post("/admin/users/{user_id}/active", dependencies=CSRF)
def set_active(
    user_id: Id, request: Request, session: SessionDep, admin: AdminUser, form: FormFields
) -> Response:
    active = form.get("active") == "true"
    try:
        released = people.set_active(
            session, user_id=user_id, active=active, acting_user_id=admin.id
        )
    except AppError as exc:
        flash(request, exc.message, "error")
        return _see_other(f"/admin/users/{user_id}")
    if active:
        flash(request, "Account reactivated.")
    else:
        flash(request, f"Account deactivated; {released} open leases released, annotations kept.")
    return _see_other(f"/admin/users/{user_id}")


@router.post("/admin/users/{user_id}/expert", dependencies=CSRF)
def set_expert(
    user_id: Id, request: Request, session: SessionDep, admin: AdminUser, form: FormFields
) -> Response:
    expert = form.get("expert") == "true"
    user = service.set_expert(session, user_id=user_id, expert=expert)
    verb = "may now settle" if expert else "no longer settles"
    flash(request, f"{user.username!r} {verb} contested prompts.")
    return _see_other(f"/admin/users/{user_id}")


@router.post("/admin/users/{user_id}/invite", dependencies=CSRF)
def renew_invite(user_id: Id, request: Request, session: SessionDep, admin: AdminUser) -> Response:
    service.renew_invite(session, user_id=user_id, show_to=_show_to(request))
    return _see_other(f"/admin/users/{user_id}")


@router.post("/admin/users/{user_id}/tokens", dependencies=CSRF)
def create_token(
    user_id: Id, request: Request, session: SessionDep, admin: AdminUser, form: FormFields
) -> Response:
    name = form.get("name", "")[:100]
    user = service.load_user(session, user_id)
    service.create_api_token(session, user=user, name=name, show_to=_show_to(request))
    return _see_other(f"/admin/users/{user_id}")


@router.post("/admin/users/{user_id}/tokens/{token_id}/revoke", dependencies=CSRF)
def revoke_token(
    user_id: Id, token_id: Id, request: Request, session: SessionDep, admin: AdminUser
) -> Response:
    row = service.revoke_token(session, user_id=user_id, token_id=token_id)
    flash(request, f"Token {row.token_prefix}… revoked.")
    return _see_other(f"/admin/users/{user_id}")


# --- the invite page (public: the token is the credential) ------------------------------


INVITE_SCOPE = "invite"


def _load_invite_limited(request: Request, session: Session, token: str) -> User:
    """Unknown invite links count as failed guesses per client address (and per link), so
    nobody can try links at speed; a locked caller gets 429 with Retry-After."""
    limits: RateLimits = request.app.state.rate_limits
    key = {"account": token[:16], "address": client_address(request)}
    limits.check_guessing(INVITE_SCOPE, **key)
    try:
        return service.load_invited_user(session, token)
    except service.InviteInvalid:
        limits.guess_failed(INVITE_SCOPE, **key)
        raise


@router.get("/invite/{token}", response_class=HTMLResponse)
def invite_page(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    user = _load_invite_limited(request, session, token)
    return render(request, "accounts/invite.html", {"username": user.username, "error": None})


@router.post("/invite/{token}", dependencies=CSRF)
def accept_invite(token: str, request: Request, session: SessionDep, form: FormFields) -> Response:
    user = _load_invite_limited(request, session, token)
    error = None
    if form.get("password", "") != form.get("password_again", ""):
        error = "The two passwords differ."
    else:
        try:
            service.accept_invite(session, token=token, password=form.get("password", ""))
        except AppError as exc:
            error = exc.message
    if error:
        context = {"username": user.username, "error": error}
        return render(request, "accounts/invite.html", context, status_code=422)
    flash(request, "Your password is set. Log in to start.")
    return _see_other("/login")
