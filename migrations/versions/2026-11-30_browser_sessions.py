"""Server-side browser sessions and shown-once secrets (issue 10).

The session cookie used to carry the user id itself, so nothing could end a login before
its 14 days were up. Now it carries a random id whose hash is a `browser_session` row:
logout, a password reset and deactivation delete rows, which ends those logins at once.
`shown_once_secret` holds a new API token or invite link until the browser session that
made it has seen it once, instead of the signed (readable) cookie.

Revision ID: 34bea0badd80
Revises: 5b7e2c1d9a40
Create Date: 2026-11-30 01:16:03.983906
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "34bea0badd80"
down_revision: str | None = "5b7e2c1d9a40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "browser_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("absolute_expires_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_browser_session_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_browser_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_browser_session_token_hash")),
    )
    with op.batch_alter_table("browser_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_browser_session_user_id"), ["user_id"], unique=False)

    op.create_table(
        "shown_once_secret",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("browser_session_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("secret", sa.String(length=2000), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["browser_session_id"],
            ["browser_session.id"],
            name=op.f("fk_shown_once_secret_browser_session_id_browser_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shown_once_secret")),
    )
    with op.batch_alter_table("shown_once_secret", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shown_once_secret_browser_session_id"),
            ["browser_session_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("shown_once_secret", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shown_once_secret_browser_session_id"))

    op.drop_table("shown_once_secret")
    with op.batch_alter_table("browser_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_browser_session_user_id"))

    op.drop_table("browser_session")
