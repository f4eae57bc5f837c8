"""Guessing is slowed down: failed logins and invite links lock per account and per client
address with 429 + Retry-After; API tokens have a request budget of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.core.audit import AuditEvent
from app.core.config import Settings
from app.core.db import get_session
from app.main import create_app
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.support.http import login


@pytest.fixture
def limited_client(settings: Settings, engine: Engine, session: Session) -> Iterator[TestClient]:
    limited = settings.model_copy(
        update={
            "login_rate_limit_per_account": "3/minute;5/hour",
            "login_rate_limit_per_address": "6/minute",
            "api_rate_limit_per_token": "4/minute",
        }
    )
    app = create_app(limited, engine=engine)
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def test_wrong_passwords_lock_the_account_even_against_the_right_one(
    limited_client: TestClient, session: Session
) -> None:
    user = make_user(session)
    before = session.scalar(select(func.max(AuditEvent.id))) or 0
    for _ in range(3):
        assert login(limited_client, user.username, "wrong-password").status_code == 401
    locked = login(limited_client, user.username, DEFAULT_PASSWORD)
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["retry-after"]) <= 60
    assert "Too many failed attempts" in locked.text
    assert limited_client.get("/api/v1/me").status_code == 401  # not logged in
    # The audit log: three failures and the lock, all anonymous with the name tried.
    rows = session.scalars(select(AuditEvent).where(AuditEvent.id > before)).all()
    assert [(r.action, r.actor_id, r.actor_name) for r in rows] == [
        ("user.login_failed", None, user.username)
    ] * 3 + [("user.login_locked", None, user.username)]
    assert rows[-1].details == {"reason": "rate_limited"}


def test_a_right_password_clears_the_account_counter(
    limited_client: TestClient, session: Session
) -> None:
    user = make_user(session)
    for _ in range(2):
        login(limited_client, user.username, "wrong-password")
    assert login(limited_client, user.username, DEFAULT_PASSWORD).status_code == 303
    limited_client.cookies.clear()
    for _ in range(2):
        assert login(limited_client, user.username, "wrong-password").status_code == 401
    assert login(limited_client, user.username, DEFAULT_PASSWORD).status_code == 303


def test_one_address_spraying_many_accounts_is_locked(
    limited_client: TestClient, session: Session
) -> None:
    user = make_user(session)
    for n in range(6):  # six usernames, each under its own per-account limit
        login(limited_client, f"guess{n}", "wrong-password")
    locked = login(limited_client, user.username, DEFAULT_PASSWORD)
    assert locked.status_code == 429 and "retry-after" in locked.headers


def test_unknown_invite_links_are_rate_limited_per_address(
    limited_client: TestClient, session: Session
) -> None:
    statuses = [limited_client.get(f"/invite/guess-{n}").status_code for n in range(8)]
    assert statuses[:6] == [404] * 6
    assert statuses[6:] == [429, 429]
    assert "retry-after" in limited_client.get("/invite/another").headers


def test_an_api_token_over_its_budget_gets_429_with_retry_after(
    limited_client: TestClient, session: Session
) -> None:
    headers = {"Authorization": f"Bearer {make_token(session, make_user(session))}"}
    statuses = [limited_client.get("/api/v1/me", headers=headers).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    refused = limited_client.get("/api/v1/me", headers=headers)
    assert refused.json()["status"] == 429 and "slow down" in refused.json()["error"]
    assert int(refused.headers["retry-after"]) >= 1
    other = {"Authorization": f"Bearer {make_token(session, make_user(session))}"}
    assert limited_client.get("/api/v1/me", headers=other).status_code == 200  # per token


def test_bad_limit_syntax_is_refused_at_startup(tmp_path) -> None:
    with pytest.raises(ValueError, match="api_rate_limit_per_token"):
        Settings(data_dir=tmp_path, api_rate_limit_per_token="lots")
