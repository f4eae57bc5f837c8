"""Single sign-on with OpenID Connect (issue 23, item 1): external identities and the
pending sign-ins.

`external_identity` ties a provider's (issuer, subject) to a user; such a user may have
no password (user_account.password_hash is already nullable). `oidc_login_attempt` holds
a sign-in's state, nonce and PKCE verifier until the provider sends the browser back.

Revision ID: 9e4b2d6a8c13
Revises: 5e1b7c3d9a42
Create Date: 2026-12-07 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "9e4b2d6a8c13"
down_revision: str | None = "5e1b7c3d9a42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "external_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_external_identity_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_identity")),
        sa.UniqueConstraint("issuer", "subject", name=op.f("uq_external_identity_issuer_subject")),
    )
    with op.batch_alter_table("external_identity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_external_identity_user_id"), ["user_id"], unique=False)
    op.create_table(
        "oidc_login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("next_url", sa.String(length=2000), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_login_attempt")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oidc_login_attempt_state_hash")),
    )


def downgrade() -> None:
    op.drop_table("oidc_login_attempt")
    with op.batch_alter_table("external_identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_external_identity_user_id"))
    op.drop_table("external_identity")
