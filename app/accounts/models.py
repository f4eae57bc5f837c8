"""People and their API tokens."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, utcnow


class Role(enum.StrEnum):
    admin = "admin"
    researcher = "researcher"
    annotator = "annotator"


ROLE_VALUES = tuple(r.value for r in Role)


class User(Base):
    __tablename__ = "user_account"  # "user" is a reserved word in PostgreSQL
    __table_args__ = (
        CheckConstraint(f"role IN {ROLE_VALUES!r}", name="role_known"),
        CheckConstraint("length(username) BETWEEN 1 AND 64", name="username_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    # NULL until an invited user sets a password; such a user cannot log in.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.annotator.value)
    is_active: Mapped[bool] = mapped_column(default=True)
    # May settle contested prompts in the adjudication queue (issue 13), like an admin.
    is_expert: Mapped[bool] = mapped_column(default=False, server_default=false())
    invite_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invite_expires_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r} {self.role}>"


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100), default="")
    # Only a SHA-256 of the token is kept; the token itself is shown once, at creation.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, so a user can tell their tokens apart in a list.
    token_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class BrowserSession(Base):
    """One login in one browser. The cookie holds a random id; only its SHA-256 is kept,
    so deleting the row (logout, password reset, deactivation) ends the login at once."""

    __tablename__ = "browser_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Sliding: moves forward with use, but never past absolute_expires_at.
    expires_at: Mapped[dt.datetime]
    absolute_expires_at: Mapped[dt.datetime]


class ShownOnceSecret(Base):
    """A secret (a new API token, an invite link) waiting to be shown once to the browser
    session that created it. Kept here instead of in the signed, readable cookie; deleted
    when shown, and ignored after a few minutes."""

    __tablename__ = "shown_once_secret"

    id: Mapped[int] = mapped_column(primary_key=True)
    browser_session_id: Mapped[int] = mapped_column(
        ForeignKey("browser_session.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ExternalIdentity(Base):
    """A login at an OpenID Connect provider, tied to one of our users.

    Matched by (issuer, subject), which the provider promises never to reassign; never by
    e-mail, which a provider may let users change (and another user may then claim)."""

    __tablename__ = "external_identity"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    # The e-mail the provider last sent: shown to admins, never used to match.
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]


class OidcLoginAttempt(Base):
    """A sign-in sent to the provider and not yet back: its state, nonce and PKCE verifier.

    Kept here, not in the signed (readable, replayable) cookie, so a state is spent once:
    the callback deletes the row it uses. The browser holds the state in its signed
    cookie too, so a callback only completes in the browser that started it."""

    __tablename__ = "oidc_login_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_url: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
