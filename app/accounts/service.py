"""Use cases for people: create, authenticate, tokens. No FastAPI here."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import sessions
from app.accounts.errors import LoginFailed, UserInactive, UsernameTaken, WeakPassword
from app.accounts.models import ROLE_VALUES, ApiToken, User
from app.core import audit
from app.core.audit import Target
from app.core.db import utcnow
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.security import (
    MIN_PASSWORD_LENGTH,
    burn_password_check,
    hash_api_token,
    hash_password,
    new_api_token,
    verify_password,
)


@dataclass(frozen=True)
class ShowTo:
    """Where a browser action's new secret goes: the acting browser session, to be shown
    once from a server-side record (never through the readable session cookie)."""

    browser_session_id: int
    base_url: str

    def invite_url(self, token: str) -> str:
        return invite_url(self.base_url, token)


def invite_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/invite/{token}"


USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
# Touching last_used_at on every API call would turn reads into writes; once a minute is enough.
TOKEN_TOUCH_INTERVAL = dt.timedelta(minutes=1)


def validate_username(username: str) -> str:
    if not USERNAME_RE.match(username):
        raise InvalidInput(
            f"Username {username!r} is not allowed: "
            "use 1-64 letters, digits, '.', '_', '@' or '-'.",
            errors=[{"field": "username", "message": "invalid username"}],
        )
    return username


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(
            f"Password is too short: use at least {MIN_PASSWORD_LENGTH} characters.",
            errors=[{"field": "password", "message": "too short"}],
        )
    return password


def validate_role(role: str) -> str:
    if role not in ROLE_VALUES:
        raise InvalidInput(
            f"Unknown role {role!r}: choose one of {', '.join(ROLE_VALUES)}.",
            errors=[{"field": "role", "message": "unknown role"}],
        )
    return role


def get_user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def load_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} does not exist.")
    return user


def load_user_by_username(session: Session, username: str) -> User:
    user = get_user_by_username(session, username)
    if user is None:
        raise NotFound(f"User {username!r} does not exist.")
    return user


def add_user(session: Session, *, username: str, password: str | None, role: str) -> User:
    """Validate and add a user without committing (for callers composing a larger action)."""
    validate_username(username)
    validate_role(role)
    if password is not None:
        validate_password(password)
    if get_user_by_username(session, username) is not None:
        raise UsernameTaken(f"Username {username!r} is already taken.")
    user = User(
        username=username,
        role=role,
        password_hash=hash_password(password) if password is not None else None,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create of the same name won the race
        session.rollback()
        raise UsernameTaken(f"Username {username!r} is already taken.") from exc
    return user


def _user_target(user: User) -> Target:
    return Target("user", user.id)


def create_user(session: Session, *, username: str, password: str | None, role: str) -> User:
    user = add_user(session, username=username, password=password, role=role)
    audit.record(
        session,
        None,
        "user.created",
        _user_target(user),
        audit.created({"username": user.username, "role": user.role}),
    )
    session.commit()
    return user


def log_in(
    session: Session, *, username: str, password: str, policy: sessions.SessionPolicy
) -> tuple[User, str]:
    """Authenticate and open a new browser session (a fresh id at every login, against
    session fixation); returns the user and the session id for the cookie. One commit."""
    user = check_password(session, username=username, password=password)
    user.last_login_at = utcnow()
    _, session_token = sessions.start(session, user=user, policy=policy)
    audit.record(session, user, "user.login_succeeded", _user_target(user))
    session.commit()
    return user, session_token


def log_out(session: Session, *, session_token: str) -> None:
    sessions.end(session, session_token)
    session.commit()


def authenticate(session: Session, *, username: str, password: str) -> User:
    """Check a username/password pair and record the login (no browser session)."""
    user = check_password(session, username=username, password=password)
    user.last_login_at = utcnow()
    audit.record(session, user, "user.login_succeeded", _user_target(user))
    session.commit()
    return user


def record_failed_login(session: Session, *, username: str, reason: str) -> None:
    """A refused login, in its own transaction (it changes nothing else). The actor is
    anonymous: only the attempted name is kept, even when it names a real account, since
    the caller did not prove to be that user. `reason`: wrong_password (also for an
    unknown name: one message for both), inactive, or rate_limited (user.login_locked)."""
    action = "user.login_locked" if reason == "rate_limited" else "user.login_failed"
    audit.record(
        session,
        None,
        action,
        Target("login", username[:64] or None),
        details={"reason": reason},
        actor_name=username,
        use_request_actor=False,
    )
    session.commit()


def check_password(session: Session, *, username: str, password: str) -> User:
    """Check a username/password pair; the same message for unknown user and wrong password."""
    user = get_user_by_username(session, username)
    if user is None or user.password_hash is None:
        burn_password_check(password)
        raise LoginFailed("Wrong username or password.")
    if not verify_password(user.password_hash, password):
        raise LoginFailed("Wrong username or password.")
    if not user.is_active:
        raise UserInactive(f"The account {username!r} is deactivated; ask an admin.")
    return user


def create_api_token(
    session: Session, *, user: User, name: str = "", show_to: ShowTo | None = None
) -> tuple[ApiToken, str]:
    """Return the stored row and the token itself, which is never stored or shown again
    (except, with `show_to`, until the creating browser session has seen it once)."""
    token = new_api_token()
    row = ApiToken(
        user_id=user.id, name=name[:100], token_hash=hash_api_token(token), token_prefix=token[:10]
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        None,
        "api_token.created",
        Target("api_token", row.id),
        audit.created({"user_id": user.id, "name": row.name, "prefix": row.token_prefix}),
    )
    if show_to is not None:
        sessions.add_shown_once(
            session,
            browser_session_id=show_to.browser_session_id,
            label=f"New API token for {user.username!r} (shown once, copy it now)",
            secret=token,
        )
    session.commit()
    return row, token


# The token and its user in one round trip (every API call pays for this lookup).
_TOKEN_USER = (
    select(User, ApiToken.id, ApiToken.last_used_at)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
)


def token_and_user(session: Session, token: str) -> tuple[int, User] | None:
    """The live token's id (rate limits count per token) and its user, or None."""
    found = session.execute(_TOKEN_USER, {"token_hash": hash_api_token(token)}).first()
    if found is None:
        return None
    user, token_id, last_used_at = found
    now = utcnow()
    if last_used_at is None or now - last_used_at > TOKEN_TOUCH_INTERVAL:
        session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
        session.commit()
    return token_id, user


# --- admin use cases: passwords, deactivation, invites, tokens ---------------------------

INVITE_TTL = dt.timedelta(days=7)


class InviteInvalid(NotFound):
    code = "invite_invalid"


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.role, User.username)))


def reset_password(
    session: Session, *, user_id: int, password: str, keep_session_id: int | None = None
) -> User:
    """Set a new password and end every browser session of that user (an old cookie must
    not outlive the password it was won with), except `keep_session_id`."""
    validate_password(password)
    user = load_user(session, user_id)
    user.password_hash = hash_password(password)
    sessions.end_all_for_user(session, user_id=user.id, keep_id=keep_session_id)
    # Never the hash itself: only that it changed.
    audit.record(session, None, "user.password_reset", _user_target(user))
    session.commit()
    return user


def change_active(
    session: Session, *, user_id: int, active: bool, acting_user_id: int | None = None
) -> User:
    """Deactivate (or reactivate) a user, in the caller's transaction (no commit): the
    admin action also hands back the user's leases, see app.admin.people.set_active.
    An admin cannot deactivate themselves (nobody might be left to undo it)."""
    if not active and user_id == acting_user_id:
        raise Conflict("You cannot deactivate your own account; ask another admin.")
    # The user row is locked first, before their leases are released: the lock order of
    # app.annotation.assignment (user, prompt, assignment), which their submits and claims
    # follow too (issue 20, item 3). The row is re-read under the lock.
    user = session.get(User, user_id, with_for_update=True, populate_existing=True)
    if user is None:
        raise NotFound(f"User {user_id} does not exist.")
    if user.is_active != active:
        audit.record(
            session,
            None,
            "user.activated" if active else "user.deactivated",
            _user_target(user),
            audit.diff({"is_active": user.is_active}, {"is_active": active}),
        )
    user.is_active = active
    if not active:
        # Deactivation ends every browser session of the user at once (not at expiry).
        sessions.end_all_for_user(session, user_id=user.id)
    return user


def set_expert(session: Session, *, user_id: int, expert: bool) -> User:
    """Mark a user as an expert (may settle contested prompts, issue 13), or not. Commits."""
    user = load_user(session, user_id)
    if user.is_expert != expert:
        audit.record(
            session,
            None,
            "user.expert_changed",
            _user_target(user),
            audit.diff({"is_expert": user.is_expert}, {"is_expert": expert}),
        )
    user.is_expert = expert
    session.commit()
    return user


def _new_invite(user: User) -> str:
    token = new_api_token().removeprefix("rk_")
    user.invite_token_hash = hash_api_token(token)  # only the hash is stored
    user.invite_expires_at = utcnow() + INVITE_TTL
    return token


def _show_invite(session: Session, user: User, token: str, show_to: ShowTo | None) -> None:
    if show_to is not None:
        sessions.add_shown_once(
            session,
            browser_session_id=show_to.browser_session_id,
            label=f"Invite link for {user.username!r} (shown once)",
            secret=show_to.invite_url(token),
        )


def invite_user(
    session: Session, *, username: str, role: str = "annotator", show_to: ShowTo | None = None
) -> tuple[User, str]:
    """Create a user without a password and return the one-time invite token."""
    user = add_user(session, username=username, password=None, role=role)
    token = _new_invite(user)
    _show_invite(session, user, token, show_to)
    audit.record(
        session,
        None,
        "user.invited",
        _user_target(user),
        audit.created({"username": user.username, "role": user.role}),
    )
    session.commit()
    return user, token


def renew_invite(session: Session, *, user_id: int, show_to: ShowTo | None = None) -> str:
    user = load_user(session, user_id)
    token = _new_invite(user)
    _show_invite(session, user, token, show_to)
    audit.record(session, None, "user.invite_renewed", _user_target(user))
    session.commit()
    return token


def load_invited_user(session: Session, token: str) -> User:
    user = session.scalar(select(User).where(User.invite_token_hash == hash_api_token(token)))
    if user is None or user.invite_expires_at is None or user.invite_expires_at < utcnow():
        raise InviteInvalid("This invite link is unknown, already used or expired; ask an admin.")
    return user


def accept_invite(session: Session, *, token: str, password: str) -> User:
    """Set the password once: the invite is spent in the same commit."""
    validate_password(password)
    user = load_invited_user(session, token)
    user.password_hash = hash_password(password)
    user.invite_token_hash = None
    user.invite_expires_at = None
    # The invited person is the actor: the link was their credential.
    audit.record(session, user, "user.invite_accepted", _user_target(user))
    session.commit()
    return user


def list_tokens(session: Session, *, user_id: int) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at)
        )
    )


def revoke_token(session: Session, *, user_id: int, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"Token {token_id} does not exist for user {user_id}.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            session,
            None,
            "api_token.revoked",
            Target("api_token", row.id),
            {"before": {"revoked": False}, "after": {"revoked": True}},
            details={"user_id": user_id, "prefix": row.token_prefix},
        )
    session.commit()
    return row
