"""Single sign-on use cases: start a sign-in, finish it. No FastAPI here.

A user is found by the ID token's (issuer, subject), the pair a provider promises never to
reassign, and never by e-mail: a provider may let people change their address, and an
old address may then belong to someone else. The first sign-in creates the user (no
password) with the default role; with a role claim configured, the claim decides the
role again at every sign-in (so removing someone from the admin group at the provider
takes effect at their next sign-in).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import sessions
from app.accounts.errors import UserInactive
from app.accounts.models import ExternalIdentity, OidcLoginAttempt, Role, User
from app.accounts.oidc import AuthorizationRequest, OidcProvider, SsoFailed
from app.accounts.service import add_user, get_user_by_username
from app.core import audit
from app.core.audit import Target
from app.core.db import utcnow
from app.core.security import hash_api_token

# The provider's login page may take a while (a password manager, a second factor), but a
# sign-in not back within this time is dropped.
ATTEMPT_TTL = dt.timedelta(minutes=10)
# Several mapped values: the strongest role wins.
ROLE_STRENGTH = (Role.admin.value, Role.researcher.value, Role.annotator.value)
USERNAME_MAX = 64
_NOT_USERNAME = re.compile(r"[^A-Za-z0-9_.@-]+")


@dataclass(frozen=True)
class RolePolicy:
    default_role: str
    """For new users, and for anyone whose claim values the map does not know."""
    claim: str = ""
    """The ID token claim read at every sign-in; empty: roles are managed in Ranklab."""
    role_map: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SignedIn:
    user: User
    session_token: str
    next_url: str


def role_from_claims(claims: Mapping[str, Any], policy: RolePolicy) -> str | None:
    """The role the claims give, or None when no role claim is configured (the user keeps
    the role Ranklab has). The claim may be a string or a list of strings; values the map
    does not know are ignored (a `groups` claim lists every group of the person), and
    when none is known the user gets the default role: the documented fallback."""
    if not policy.claim:
        return None
    raw = claims.get(policy.claim)
    values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    mapped = {policy.role_map[v] for v in values if isinstance(v, str) and v in policy.role_map}
    return next((role for role in ROLE_STRENGTH if role in mapped), policy.default_role)


def begin(
    session: Session, provider: OidcProvider, *, redirect_uri: str, next_url: str
) -> AuthorizationRequest:
    """A new sign-in: its state, nonce and verifier kept server-side until the provider
    sends the browser back. One commit."""
    request = provider.authorization_request(redirect_uri=redirect_uri)
    # Abandoned sign-ins are dead weight; starting one is a natural moment to drop them.
    session.execute(
        delete(OidcLoginAttempt).where(OidcLoginAttempt.created_at < utcnow() - ATTEMPT_TTL)
    )
    session.add(
        OidcLoginAttempt(
            state_hash=hash_api_token(request.state),
            nonce=request.nonce,
            code_verifier=request.code_verifier,
            next_url=next_url,
        )
    )
    session.commit()
    return request


def spend_attempt(session: Session, *, state: str) -> tuple[str, str, str]:
    """Take the sign-in a state names, deleting it (its nonce, verifier, next URL), and
    commit at once: the state is spent before the code is even tried, so neither a replay
    nor a retry after a failure can use it again. One DELETE ... RETURNING, so of two
    callbacks racing with the same state only one gets the row."""
    found = session.execute(
        delete(OidcLoginAttempt)
        .where(OidcLoginAttempt.state_hash == hash_api_token(state))
        .returning(
            OidcLoginAttempt.nonce,
            OidcLoginAttempt.code_verifier,
            OidcLoginAttempt.next_url,
            OidcLoginAttempt.created_at,
        )
    ).first()
    session.commit()
    if found is None or found.created_at < utcnow() - ATTEMPT_TTL:
        raise SsoFailed(
            "This sign-in was already used or has expired (its state is spent); "
            "start again from the login page."
        )
    return found.nonce, found.code_verifier, found.next_url


def finish(
    session: Session,
    provider: OidcProvider,
    *,
    state: str,
    code: str,
    redirect_uri: str,
    roles: RolePolicy,
    session_policy: sessions.SessionPolicy,
) -> SignedIn:
    """The provider sent the browser back with a code: spend the state, exchange the code
    (with the PKCE verifier), verify the ID token (with the nonce), then find or create
    the user and open a browser session (the sign-in's one commit after the state's)."""
    nonce, code_verifier, next_url = spend_attempt(session, state=state)
    tokens = provider.exchange_code(
        code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
    )
    claims = provider.verify_id_token(
        tokens["id_token"], nonce=nonce, access_token=tokens.get("access_token")
    )
    try:
        user = sign_in_user(session, claims=claims, roles=roles)
        _, session_token = sessions.start(session, user=user, policy=session_policy)
        session.commit()
    except IntegrityError as exc:  # a first sign-in of the same person in two tabs at once
        session.rollback()
        raise SsoFailed("This account was being created by another sign-in; try again.") from exc
    return SignedIn(user, session_token, next_url)


def sign_in_user(session: Session, *, claims: Mapping[str, Any], roles: RolePolicy) -> User:
    """The user for verified ID token claims: found by (iss, sub), or created; the role
    claim applied; deactivated users refused. Flushes; the caller commits."""
    issuer, subject = str(claims["iss"]), str(claims["sub"])
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    now = utcnow()
    identity = session.scalar(
        select(ExternalIdentity).where(
            ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject
        )
    )
    role = role_from_claims(claims, roles)
    if identity is None:
        user = add_user(
            session,
            username=free_username(session, claims),
            password=None,
            role=role or roles.default_role,
        )
        identity = ExternalIdentity(user_id=user.id, issuer=issuer, subject=subject)
        session.add(identity)
        audit.record(
            session,
            user,
            "user.created",
            Target("user", user.id),
            audit.created({"username": user.username, "role": user.role}),
            details={"method": "oidc", "issuer": issuer},
        )
    else:
        user = session.get_one(User, identity.user_id)
        if not user.is_active:
            raise UserInactive(f"The account {user.username!r} is deactivated; ask an admin.")
        if role is not None and role != user.role:
            # The provider's role claim is the source of truth at each sign-in.
            audit.record(
                session,
                user,
                "user.role_changed",
                Target("user", user.id),
                audit.diff({"role": user.role}, {"role": role}),
                details={"method": "oidc", "claim": roles.claim},
            )
            user.role = role
    identity.email = email[:320] if email else None
    identity.last_login_at = now
    user.last_login_at = now
    audit.record(
        session,
        user,
        "user.login_succeeded",
        Target("user", user.id),
        details={"method": "oidc", "issuer": issuer},
    )
    session.flush()
    return user


def free_username(session: Session, claims: Mapping[str, Any]) -> str:
    """A readable, unused username from the claims (preferred_username, e-mail, name).

    Only a label: a name already taken, even by the same e-mail, is never reused; the new
    user gets a numbered variant instead."""
    base = ""
    for key in ("preferred_username", "email", "name"):
        value = claims.get(key)
        if isinstance(value, str):
            base = _NOT_USERNAME.sub("-", value).strip("-.")[: USERNAME_MAX - 4]
            if base:
                break
    base = base or "sso-user"
    candidate, n = base, 1
    while get_user_by_username(session, candidate) is not None:
        n += 1
        candidate = f"{base}-{n}"
    return candidate
