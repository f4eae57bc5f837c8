"""People over the API and the admin pages: create, reset, deactivate, invite, tokens."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import ApiToken, User
from app.annotation.models import Annotation, Assignment
from app.prompt_sets.models import Candidate, Prompt
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.annotation import make_annotation, make_lease
from tests.factories.prompt_sets import make_prompt_set
from tests.support.http import csrf_from, login

pytestmark = pytest.mark.one_backend  # admin forms and API: no claim, submit or export


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, role="admin")


@pytest.fixture
def headers(session: Session, admin: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, admin)}"}


def test_api_creates_users_of_each_role_who_can_log_in(
    client: TestClient, session: Session, headers: dict
) -> None:
    for role in ("annotator", "researcher", "admin"):
        body = {"username": f"new-{role}", "password": "long-enough-pw", "role": role}
        response = client.post("/api/v1/users", json=body, headers=headers)
        assert response.status_code == 201, response.text
        assert response.json()["role"] == role and response.json()["invite_url"] is None
    assert login(client, "new-researcher", "long-enough-pw").headers["location"] == "/research"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"username": "x y", "password": "long-enough-pw", "role": "annotator"}, 422, "username"),
        ({"username": "ok", "password": "short", "role": "annotator"}, 422, "password"),
        ({"username": "ok", "password": "long-enough-pw", "role": "boss"}, 422, "role"),
    ],
)
def test_api_refuses_bad_users(
    client: TestClient, session: Session, headers: dict, body: dict, status: int, field: str
) -> None:
    response = client.post("/api/v1/users", json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["errors"][0]["field"] == field
    assert session.scalar(select(User).where(User.username == body["username"])) is None


def test_token_is_returned_once_listed_by_prefix_and_revocable(
    client: TestClient, session: Session, headers: dict
) -> None:
    user = make_user(session, role="researcher")
    created = client.post(
        f"/api/v1/users/{user.id}/tokens", json={"name": "export"}, headers=headers
    )
    assert created.status_code == 201
    token = created.json()["token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    listed = client.get(f"/api/v1/users/{user.id}/tokens", headers=headers).json()
    assert [t["name"] for t in listed] == ["export"] and "token" not in listed[0]
    assert token.startswith(listed[0]["token_prefix"])
    revoked = client.delete(f"/api/v1/users/{user.id}/tokens/{listed[0]['id']}", headers=headers)
    assert revoked.json()["revoked_at"] is not None
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    stored = session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert token not in (stored.token_hash, stored.token_prefix)


def test_reset_password(client: TestClient, session: Session, headers: dict) -> None:
    user = make_user(session)
    response = client.post(
        f"/api/v1/users/{user.id}/password",
        json={"password": "brand-new-password"},
        headers=headers,
    )
    assert response.status_code == 200
    assert login(client, user.username, "brand-new-password").status_code == 303


def test_deactivating_releases_leases_keeps_annotations_and_blocks_login(
    client: TestClient, session: Session, headers: dict
) -> None:
    ps = make_prompt_set(session, prompts=2)
    prompts = session.scalars(select(Prompt).where(Prompt.prompt_set_id == ps.id)).all()
    user = make_user(session)
    ids = [
        c.id for c in session.scalars(select(Candidate).where(Candidate.prompt_id == prompts[0].id))
    ]
    make_annotation(session, prompts[0], user, [ids])
    lease = make_lease(session, prompts[1], user)
    session.commit()
    response = client.post(
        f"/api/v1/users/{user.id}/active", json={"is_active": False}, headers=headers
    )
    assert response.json()["is_active"] is False
    session.refresh(lease)
    assert lease.status == "released"
    assert session.scalar(select(Annotation).where(Annotation.annotator_id == user.id)) is not None
    assert session.scalar(select(Assignment).where(Assignment.status == "leased")) is None
    assert login(client, user.username, DEFAULT_PASSWORD).status_code == 403


def test_invite_link_sets_the_password_once(
    client: TestClient, session: Session, headers: dict
) -> None:
    created = client.post(
        "/api/v1/users", json={"username": "invitee", "role": "annotator"}, headers=headers
    )
    url = created.json()["invite_url"]
    path = "/invite/" + url.rsplit("/", 1)[1]
    user = session.scalar(select(User).where(User.username == "invitee"))
    assert user.password_hash is None and user.invite_token_hash not in url
    page = client.get(path)
    assert page.status_code == 200 and "Welcome, invitee" in page.text
    token = csrf_from(page.text)
    differ = client.post(
        path, data={"csrf_token": token, "password": "aaaaaaaaaa", "password_again": "b"}
    )
    assert differ.status_code == 422 and "differ" in differ.text
    done = client.post(
        path,
        data={
            "csrf_token": token,
            "password": "my-own-password",
            "password_again": "my-own-password",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert client.get(path).status_code == 404  # spent
    assert login(client, "invitee", "my-own-password").headers["location"] == "/annotate"


def test_users_pages_create_with_errors_next_to_fields_and_show_token_once(
    client: TestClient, session: Session, admin: User
) -> None:
    login(client, admin.username, DEFAULT_PASSWORD)
    token = csrf_from(client.get("/admin/users").text)
    bad = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": admin.username,
            "role": "annotator",
            "password": "long-enough-pw",
        },
    )
    assert bad.status_code == 422 and "already taken" in bad.text
    made = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": "page-made",
            "role": "annotator",
            "password": "long-enough-pw",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    user_page = made.headers["location"]
    shown = client.post(f"{user_page}/tokens", data={"csrf_token": token, "name": "cli"})
    secret = re.search(r"copy it now\): <code[^>]*>(rk_[A-Za-z0-9_-]+)", shown.text).group(1)
    assert secret not in client.get(user_page).text  # shown once
    deactivated = client.post(f"{user_page}/active", data={"csrf_token": token, "active": "false"})
    assert "Account deactivated" in deactivated.text


def test_an_admin_cannot_deactivate_themselves(
    client: TestClient, session: Session, admin: User, headers: dict
) -> None:
    response = client.post(
        f"/api/v1/users/{admin.id}/active", json={"is_active": False}, headers=headers
    )
    assert response.status_code == 409 and "your own account" in response.json()["error"]
    session.refresh(admin)
    assert admin.is_active


def test_users_page_without_a_password_shows_an_invite_link_once(
    client: TestClient, session: Session, admin: User
) -> None:
    login(client, admin.username, DEFAULT_PASSWORD)
    token = csrf_from(client.get("/admin/users").text)
    page = client.post(
        "/admin/users", data={"csrf_token": token, "username": "newbie", "role": "annotator"}
    )
    link = re.search(r"http://testserver(/invite/[A-Za-z0-9_-]+)", page.text).group(1)
    assert "invited" in client.get("/admin/users").text
    assert link not in client.get(page.url.path).text
    assert client.get(link).status_code == 200
