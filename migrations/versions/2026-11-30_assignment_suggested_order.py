"""assignment.suggested_order: the judge's order an annotator was started from (issue 13).

Written by the lease path when it serves a judge's suggested order for the assignment, so
the submit records `annotation.suggestion_shown` from what the server served, never from
what a client claims; a reload of the same lease shows the same order. A nullable column
without a default: no table rebuild on SQLite.

Revision ID: 5b1e0c7d9a42
Revises: 5c1f0a9e7b21
Create Date: 2026-11-30 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5b1e0c7d9a42"
down_revision: str | None = "5c1f0a9e7b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "assignment",
        sa.Column(
            "suggested_order",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_column("suggested_order")
