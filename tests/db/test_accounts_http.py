"""Login, logout, CSRF, roles and bearer tokens over HTTP (TestClient, both backends)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.support.http import csrf_from, login

pytestmark = pytest.mark.one_backend  # login, CSRF, roles and tokens: no claim, submit or export


def test_login_with_right_password_redirects_home_and_sets_a_safe_cookie(
    client: TestClient, session: Session
) -> None:
    admin = make_user(session, role="admin")
    response = login(client, admin.username, DEFAULT_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    page = client.get("/admin")
    assert page.status_code == 200
    assert admin.username in page.text


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("wrong password", 401, "Wrong username or password."),
        ("unknown user", 401, "Wrong username or password."),
        ("inactive user", 403, "is deactivated"),
    ],
)
def test_login_refusals(
    client: TestClient, session: Session, case: str, status: int, message: str
) -> None:
    user = make_user(session, is_active=case != "inactive user")
    username = "nobody" if case == "unknown user" else user.username
    password = "wrong-password" if case == "wrong password" else DEFAULT_PASSWORD
    response = login(client, username, password)
    assert response.status_code == status
    assert message in response.text
    assert client.get("/annotate", follow_redirects=False).status_code == 303  # still logged out


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_login_form_without_valid_csrf_is_refused(
    client: TestClient, session: Session, token
) -> None:
    user = make_user(session)
    client.get("/login")
    data = {"username": user.username, "password": DEFAULT_PASSWORD}
    if token:
        data["csrf_token"] = token
    response = client.post("/login", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert "CSRF token" in response.text


def test_logout_needs_csrf_and_ends_the_session(client: TestClient, session: Session) -> None:
    user = make_user(session)
    login(client, user.username, DEFAULT_PASSWORD)
    refused = client.post("/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    token = csrf_from(client.get("/annotate").text)
    done = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert client.get("/annotate", follow_redirects=False).headers["location"].startswith("/login")


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        ("annotator", "/admin", 403),
        ("annotator", "/research", 403),
        ("researcher", "/admin", 403),
        ("researcher", "/annotate", 403),
        ("admin", "/admin", 200),
        ("researcher", "/research", 200),
        ("annotator", "/annotate", 200),
    ],
)
def test_pages_check_roles(
    client: TestClient, session: Session, role: str, path: str, status: int
) -> None:
    user = make_user(session, role=role)
    login(client, user.username, DEFAULT_PASSWORD)
    response = client.get(path)
    assert response.status_code == status
    if status == 403:
        assert f"you are signed in as {role}" in response.text


def test_pages_send_anonymous_users_to_login(client: TestClient) -> None:
    response = client.get("/admin", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/admin"


def test_api_accepts_a_bearer_token(client: TestClient, session: Session) -> None:
    user = make_user(session, role="researcher")
    token = make_token(session, user)
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json() == {"id": user.id, "username": user.username, "role": "researcher"}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Log in first"),
        ({"Authorization": "Bearer rk_not-a-real-token"}, "unknown or revoked"),
    ],
)
def test_api_refuses_missing_or_unknown_tokens_with_the_error_shape(
    client: TestClient, headers: dict, message: str
) -> None:
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["ok"] is False and body["status"] == 401 and message in body["error"]
    assert set(body) == {"ok", "error", "errors", "status"}


def test_api_refuses_deactivated_users_tokens(client: TestClient, session: Session) -> None:
    user = make_user(session)
    token = make_token(session, user)
    user.is_active = False
    session.commit()
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert "deactivated" in response.json()["error"]


def test_login_ignores_offsite_next(client: TestClient, session: Session) -> None:
    user = make_user(session)
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={
            "username": user.username,
            "password": DEFAULT_PASSWORD,
            "csrf_token": token,
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/annotate"


def test_unknown_api_route_gets_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["ok"] is False


def test_healthz_checks_the_database(client: TestClient) -> None:
    assert client.get("/healthz").json()["database"] == "ok"


def test_oversized_body_is_refused(client: TestClient, settings) -> None:
    body = b"x" * (settings.max_body_bytes + 1)
    response = client.post("/login", content=body, headers={"content-type": "text/plain"})
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["error"]


def test_oversized_streamed_body_is_refused_as_payload_too_large(
    client: TestClient, settings
) -> None:
    # No Content-Length: the limit trips while the body is read, inside the app. A form
    # route's error handlers answer it like any AppError; FastAPI's JSON body reader would
    # turn it into a 400, which the limit replaces. Either way: 413, nothing read further.
    chunk = b"x" * 64 * 1024

    def chunks():
        return (chunk for _ in range(settings.max_body_bytes // len(chunk) + 2))

    form = client.post(
        "/login", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    api = client.post(
        "/api/v1/prompt-sets", content=chunks(), headers={"content-type": "application/json"}
    )
    for response in (form, api):
        assert response.status_code == 413
        assert "larger than the limit" in response.text
    assert api.json()["status"] == 413
