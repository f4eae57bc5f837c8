"""Single sign-on over HTTP against a real OpenID Connect provider process (issue 23, item 1).

The app runs in process (TestClient); the provider (oidc-provider-mock, tests/support/
oidc_provider.py) runs as its own process, one for the module, and the app talks to it
over real HTTP: discovery, JWKS, the token endpoint. Each test signs in a subject of its
own, so tests share the provider without sharing people.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import get_args
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.accounts import service
from app.accounts.models import ExternalIdentity, Role, User
from app.accounts.oidc import OidcProvider, ProviderSettings, SsoFailed
from app.core.audit import AuditEvent
from app.core.config import RoleName, Settings
from app.core.db import get_session
from app.main import create_app
from tests.support.oidc_provider import OidcProviderProcess, running_provider

pytestmark = pytest.mark.one_backend

CLIENT_ID = "ranklab"
ROLE_MAP = {"ranklab-admins": "admin", "ranklab-researchers": "researcher"}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProviderProcess]:
    with running_provider(tmp_path_factory.mktemp("oidc") / "provider.log") as running:
        yield running


def sso_settings(tmp_path: Path, db_url: str, issuer: str, **extra: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key="x" * 48,
        run_worker_in_process=False,
        oidc_issuer=issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret="not-checked-by-the-mock",
        oidc_display_name="Example IdP",
        oidc_role_claim="groups",
        oidc_role_map=ROLE_MAP,
        **extra,
    )


@pytest.fixture
def settings(tmp_path: Path, db_url: str, provider: OidcProviderProcess) -> Settings:
    return sso_settings(tmp_path, db_url, provider.issuer)


def start(client: TestClient) -> str:
    response = client.get("/login/oidc", follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"]


def sign_in(client: TestClient, provider: OidcProviderProcess, sub: str):
    callback = provider.approve(start(client), sub)
    return client.get(callback, follow_redirects=False)


def identity_user(session: Session, provider: OidcProviderProcess, sub: str) -> User:
    identity = session.scalar(
        select(ExternalIdentity).where(
            ExternalIdentity.issuer == provider.issuer, ExternalIdentity.subject == sub
        )
    )
    assert identity is not None
    return session.get_one(User, identity.user_id)


def test_first_sign_in_creates_the_user_with_the_default_role_and_no_password(
    client: TestClient, session: Session, provider: OidcProviderProcess
) -> None:
    page = client.get("/login")
    assert "Sign in with Example IdP" in page.text and 'name="password"' in page.text
    authorize = start(client)
    assert "code_challenge_method=S256" in authorize and "code_challenge=" in authorize
    assert "nonce=" in authorize and "state=" in authorize
    provider.set_user("first-1", {"email": "ann@example.org", "preferred_username": "ann"})
    response = client.get(provider.approve(authorize, "first-1"), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/annotate"
    user = identity_user(session, provider, "first-1")
    assert (user.username, user.role, user.password_hash) == ("ann", "annotator", None)
    # The audit log has the creation and the sign-in, both marked as single sign-on.
    events = session.execute(
        select(AuditEvent.action, AuditEvent.details)
        .where(AuditEvent.actor_id == user.id)
        .order_by(AuditEvent.id)
    ).all()
    assert [(action, details["method"]) for action, details in events] == [
        ("user.created", "oidc"),
        ("user.login_succeeded", "oidc"),
    ]
    # A revocable server-side session like a password login's: the home page is reachable.
    assert client.get("/annotate").status_code == 200


def test_users_are_matched_by_subject_never_by_email_and_the_role_claim_is_reapplied(
    client: TestClient, session: Session, provider: OidcProviderProcess
) -> None:
    service.create_user(
        session, username="boss@example.org", password="local-password-1", role="admin"
    )
    provider.set_user("role-1", {"email": "boss@example.org", "groups": ["ranklab-admins"]})
    assert sign_in(client, provider, "role-1").headers["location"] == "/admin"
    user = identity_user(session, provider, "role-1")
    # Same e-mail as the local admin, yet a user of its own (a numbered name).
    assert (user.username, user.role) == ("boss@example.org-2", "admin")

    client.cookies.clear()
    provider.set_user(
        "role-1", {"email": "renamed@example.org", "groups": ["staff", "ranklab-researchers"]}
    )
    assert sign_in(client, provider, "role-1").headers["location"] == "/research"
    session.expire_all()
    again = identity_user(session, provider, "role-1")
    assert (again.id, again.role) == (user.id, "researcher")


def test_an_unknown_role_claim_value_falls_back_to_the_default_role(
    client: TestClient, session: Session, provider: OidcProviderProcess
) -> None:
    provider.set_user("unknown-1", {"groups": ["ranklab-admins"]})
    assert sign_in(client, provider, "unknown-1").status_code == 303
    assert identity_user(session, provider, "unknown-1").role == "admin"
    client.cookies.clear()
    # The documented fallback (docs/security.md): values the map does not know give the
    # default role, so leaving the admin group at the provider demotes at the next sign-in.
    provider.set_user("unknown-1", {"groups": ["marketing"]})
    assert sign_in(client, provider, "unknown-1").headers["location"] == "/annotate"
    session.expire_all()
    assert identity_user(session, provider, "unknown-1").role == "annotator"


def test_a_deactivated_user_is_refused(
    client: TestClient, session: Session, provider: OidcProviderProcess
) -> None:
    provider.set_user("gone-1", {"email": "gone@example.org"})
    assert sign_in(client, provider, "gone-1").status_code == 303
    user = identity_user(session, provider, "gone-1")
    service.change_active(session, user_id=user.id, active=False)
    session.commit()
    client.cookies.clear()
    response = sign_in(client, provider, "gone-1")
    assert response.status_code == 403 and "is deactivated" in response.text
    assert client.get("/annotate", follow_redirects=False).status_code != 200


def test_a_replayed_state_is_refused_even_with_the_old_cookie(
    client: TestClient, provider: OidcProviderProcess
) -> None:
    provider.set_user("replay-1", {"email": "replay@example.org"})
    callback = provider.approve(start(client), "replay-1")
    cookie_before = dict(client.cookies)
    assert client.get(callback, follow_redirects=False).status_code == 303
    # The signed cookie from before the callback still names the state; the server-side
    # record of it is gone, so the replay is refused (a cookie-only state would pass).
    client.cookies.clear()
    client.cookies.update(cookie_before)
    replay = client.get(callback, follow_redirects=False)
    assert replay.status_code == 401 and "already used or has expired" in replay.text


def test_a_callback_from_another_browser_or_sign_in_is_refused(
    client: TestClient, settings: Settings, engine: Engine, provider: OidcProviderProcess
) -> None:
    provider.set_user("inject-1", {"email": "attacker@example.org"})
    start(client)  # the victim's own sign-in, pending
    with TestClient(create_app(settings, engine=engine)) as attacker:
        attacker_callback = provider.approve(start(attacker), "inject-1")
    # Login CSRF: the attacker's callback opened in the victim's browser. Its state is not
    # the one in the victim's cookie, so nothing is exchanged (the code stays unused).
    refused = client.get(attacker_callback, follow_redirects=False)
    assert refused.status_code == 401 and "not started in this browser" in refused.text
    # Code injection: the attacker's code with the victim's own, valid state. The ID
    # token's nonce is the attacker's sign-in's, not this state's: refused.
    victim_state = parse_qs(urlsplit(start(client)).query)["state"][0]
    code = parse_qs(urlsplit(attacker_callback).query)["code"][0]
    injected = client.get(
        "/login/oidc/callback",
        params={"code": code, "state": victim_state},
        follow_redirects=False,
    )
    assert injected.status_code == 401 and "does not belong to this sign-in" in injected.text


def test_password_login_off_hides_the_form_and_refuses_the_post(
    tmp_path: Path, db_url: str, engine: Engine, session: Session, provider: OidcProviderProcess
) -> None:
    user = service.create_user(
        session, username="pw-user", password="local-password-1", role="admin"
    )
    app = create_app(sso_settings(tmp_path, db_url, provider.issuer, password_login=False), engine)
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as off:
        page = off.get("/login")
        assert "Sign in with Example IdP" in page.text and 'name="password"' not in page.text
        response = off.post("/login", data={"username": "pw-user", "password": "local-password-1"})
    assert response.status_code == 403
    assert "Password login is turned off" in response.text
    session.refresh(user)
    assert user.last_login_at is None


@pytest.fixture
def verifier(provider: OidcProviderProcess) -> Iterator[OidcProvider]:
    """The app's own verification code, for a provider configured with our client id."""
    verifier = OidcProvider(ProviderSettings(provider.issuer, CLIENT_ID, "x", "openid"))
    yield verifier
    verifier.close()


def test_id_tokens_forged_expired_or_for_another_client_are_refused(
    provider: OidcProviderProcess, verifier: OidcProvider
) -> None:
    provider.set_user("token-1", {"email": "t@example.org"})
    genuine = provider.tokens_for(client_id=CLIENT_ID, sub="token-1", nonce="n-1")["id_token"]
    assert verifier.verify_id_token(genuine, nonce="n-1")["sub"] == "token-1"
    with pytest.raises(SsoFailed, match="does not belong to this sign-in"):
        verifier.verify_id_token(genuine, nonce="n-other")
    with pytest.raises(SsoFailed, match="has expired"):
        verifier.verify_id_token(genuine, nonce="n-1", now=int(time.time()) + 2 * 3600)
    # A genuine token of the same provider, issued to another application.
    other = provider.tokens_for(client_id="other-app", sub="token-1", nonce="n-2")["id_token"]
    with pytest.raises(SsoFailed, match="another application"):
        verifier.verify_id_token(other, nonce="n-2")
    # Right claims and the genuine token's header, signed with a key the provider lacks.
    header = jwt.decode(genuine, verifier._key_set()).header
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": CLIENT_ID,
        "sub": "token-1",
        "nonce": "n-1",
        "iat": now,
        "exp": now + 600,
    }
    forged = jwt.encode(header, claims, RSAKey.generate_key(2048))
    with pytest.raises(SsoFailed, match="signature"):
        verifier.verify_id_token(forged, nonce="n-1")


def test_the_settings_roles_are_the_accounts_roles() -> None:
    # app.core.config cannot import app.accounts (layering); this keeps its copy honest.
    assert set(get_args(RoleName)) == {role.value for role in Role}


def test_failed_callbacks_count_against_the_address_limit(
    tmp_path: Path, db_url: str, engine: Engine, session: Session, provider: OidcProviderProcess
) -> None:
    limited = sso_settings(
        tmp_path, db_url, provider.issuer, login_rate_limit_per_address="2/minute"
    )
    app = create_app(limited, engine)
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as guesser:
        statuses = [
            guesser.get(
                "/login/oidc/callback", params={"state": f"guess-{n}", "code": "c"}
            ).status_code
            for n in range(3)
        ]
        assert statuses == [401, 401, 429]
