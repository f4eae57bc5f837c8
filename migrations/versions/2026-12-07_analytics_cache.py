"""Analytics cache (issue 22): fitted statistics stored per (kind, key) with the data
version they belong to, so every app process reuses them — the reliability fit of an
export's filters, a set's bootstrap strength intervals (app.analytics.fit_cache). Starts
empty: the first reader computes each entry.

Revision ID: 5e1b7c3d9a42
Revises: 9a4c2e6f8b13
Create Date: 2026-12-07 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.db

revision: str = "5e1b7c3d9a42"
down_revision: str | None = "9a4c2e6f8b13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_cache",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("prompt_set_id", sa.Integer(), nullable=False),
        sa.Column("data_version", sa.String(length=64), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("computed_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_set_id"],
            ["prompt_set.id"],
            name=op.f("fk_analytics_cache_prompt_set_id_prompt_set"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_analytics_cache")),
    )
    op.create_index(
        "ix_analytics_cache_prompt_set_id", "analytics_cache", ["prompt_set_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_analytics_cache_prompt_set_id", table_name="analytics_cache")
    op.drop_table("analytics_cache")
