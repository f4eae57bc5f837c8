"""Browser sessions live on the server: logout, password reset and deactivation end them,
expiry slides but is capped, every login gets a new id, and secrets never ride the cookie."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts import sessions
from app.accounts.models import BrowserSession, User
from app.core.db import utcnow
from app.main import SESSION_COOKIE
from tests.factories.accounts import DEFAULT_PASSWORD, make_user
from tests.support.http import csrf_from, login

POLICY = sessions.SessionPolicy(idle=dt.timedelta(hours=1), absolute=dt.timedelta(days=1))


def _cookie_data(client: TestClient) -> dict:
    """What the signed cookie carries: signed, not encrypted, so anyone holding it reads it."""
    value = client.cookies[SESSION_COOKIE]
    payload = value.split(".")[0]
    return json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))


def _use_cookie(client: TestClient, value: str) -> None:
    """Replay a copied cookie, as an attacker holding it would."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, value)


def _logged_in(client: TestClient) -> bool:
    return client.get("/api/v1/me").status_code == 200


def _annotator_then_admin(
    client: TestClient, session: Session, admin: User
) -> tuple[User, str, str]:
    """An annotator logs in (their cookie is kept), then an admin in the same client;
    returns the annotator, their cookie and the admin page's CSRF token."""
    user = make_user(session)
    login(client, user.username, DEFAULT_PASSWORD)
    annotator_cookie = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    login(client, admin.username, DEFAULT_PASSWORD)
    return user, annotator_cookie, csrf_from(client.get("/admin/users").text)


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, role="admin")


def test_a_cookie_copied_before_logout_no_longer_works_after_it(
    client: TestClient, session: Session
) -> None:
    user = make_user(session)
    login(client, user.username, DEFAULT_PASSWORD)
    copied = client.cookies[SESSION_COOKIE]
    token = csrf_from(client.get("/annotate").text)
    client.post("/logout", data={"csrf_token": token})
    _use_cookie(client, copied)
    assert not _logged_in(client)
    assert session.scalar(select(func.count()).select_from(BrowserSession)) == 0


def test_a_password_reset_ends_every_session_of_that_user(
    client: TestClient, session: Session, admin: User
) -> None:
    user, annotator_cookie, token = _annotator_then_admin(client, session, admin)
    reset = client.post(
        f"/admin/users/{user.id}/password", data={"csrf_token": token, "password": "new-pw-123"}
    )
    assert reset.status_code == 200 and "New password set" in reset.text
    assert _logged_in(client)  # the admin's own session is untouched
    _use_cookie(client, annotator_cookie)
    assert not _logged_in(client)


def test_an_admin_resetting_their_own_password_keeps_only_this_session(
    client: TestClient, session: Session, admin: User
) -> None:
    login(client, admin.username, DEFAULT_PASSWORD)
    other_browser = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    login(client, admin.username, DEFAULT_PASSWORD)
    token = csrf_from(client.get("/admin/users").text)
    client.post(
        f"/admin/users/{admin.id}/password", data={"csrf_token": token, "password": "new-pw-123"}
    )
    assert _logged_in(client)
    _use_cookie(client, other_browser)
    assert not _logged_in(client)


def test_deactivation_ends_every_session_and_reactivation_does_not_revive_them(
    client: TestClient, session: Session, admin: User
) -> None:
    user, annotator_cookie, token = _annotator_then_admin(client, session, admin)
    for active in ("false", "true"):
        client.post(f"/admin/users/{user.id}/active", data={"csrf_token": token, "active": active})
    _use_cookie(client, annotator_cookie)
    assert not _logged_in(client)


def test_every_login_gets_a_new_session_id_and_keeps_no_pre_login_state(
    client: TestClient, session: Session
) -> None:
    user = make_user(session)
    client.get("/login")
    before = _cookie_data(client)
    login(client, user.username, DEFAULT_PASSWORD)
    first = _cookie_data(client)
    login(client, user.username, DEFAULT_PASSWORD)  # already logged in: the form redirects
    client.cookies.clear()
    login(client, user.username, DEFAULT_PASSWORD)
    second = _cookie_data(client)
    assert "sid" not in before and first["sid"] != second["sid"]
    assert first.get("csrf") != before["csrf"]  # the pre-login CSRF token was dropped
    assert "user_id" not in first  # the cookie names no user


def test_new_api_tokens_and_invite_links_never_travel_in_the_cookie(
    client: TestClient, session: Session, admin: User
) -> None:
    login(client, admin.username, DEFAULT_PASSWORD)
    token = csrf_from(client.get("/admin/users").text)
    made = client.post(
        "/admin/users",
        data={"csrf_token": token, "username": "invitee", "role": "annotator"},
        follow_redirects=False,
    )
    cookie_after_invite = json.dumps(_cookie_data(client))
    page = client.get(made.headers["location"]).text
    assert "/invite/" in page and "/invite/" not in cookie_after_invite
    user_id = made.headers["location"].rsplit("/", 1)[1]
    created = client.post(
        f"/admin/users/{user_id}/tokens",
        data={"csrf_token": token, "name": "x"},
        follow_redirects=False,
    )
    assert "rk_" not in json.dumps(_cookie_data(client))
    shown = client.get(created.headers["location"]).text
    assert "rk_" in shown
    assert "copy it now" not in client.get(created.headers["location"]).text  # once only


def test_expiry_slides_with_use_but_never_past_the_absolute_cap(session: Session) -> None:
    user = make_user(session)
    row, token = sessions.start(session, user=user, policy=POLICY)
    session.commit()
    assert sessions.resolve(session, token, policy=POLICY) is not None
    # Used recently enough: the idle deadline moves forward from "now".
    row.last_seen_at = utcnow() - dt.timedelta(minutes=30)
    row.expires_at = utcnow() + dt.timedelta(minutes=30)
    session.commit()
    sessions.resolve(session, token, policy=POLICY)
    assert row.expires_at > utcnow() + dt.timedelta(minutes=59)
    # Near the cap: sliding stops at absolute_expires_at.
    row.absolute_expires_at = utcnow() + dt.timedelta(minutes=5)
    row.last_seen_at = utcnow() - dt.timedelta(minutes=2)
    session.commit()
    sessions.resolve(session, token, policy=POLICY)
    assert row.expires_at == row.absolute_expires_at
    # Idle too long, or past the cap: the session is over.
    row.expires_at = utcnow() - dt.timedelta(seconds=1)
    session.commit()
    assert sessions.resolve(session, token, policy=POLICY) is None
    row.expires_at = utcnow() + dt.timedelta(hours=1)
    row.absolute_expires_at = utcnow() - dt.timedelta(seconds=1)
    session.commit()
    assert sessions.resolve(session, token, policy=POLICY) is None


def test_an_expired_session_sends_the_browser_to_the_login_page(
    client: TestClient, session: Session
) -> None:
    user = make_user(session)
    login(client, user.username, DEFAULT_PASSWORD)
    row = session.scalar(select(BrowserSession).where(BrowserSession.user_id == user.id))
    row.expires_at = utcnow() - dt.timedelta(seconds=1)
    session.commit()
    response = client.get("/annotate", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
