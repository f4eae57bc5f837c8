"""candidate_score.head_scores: each bootstrap head's score of the candidate (issue 20, item 8).

Routing takes the spread of a prompt's score *gap* across the bootstrap heads; two
candidates of one prompt are scored by the same heads, so their per-candidate spreads
are not independent and cannot be combined into the gap's. NULL for versions scored
before (and for full versions, which have no ensemble). A nullable column without a
default: no table rebuild on SQLite.

Revision ID: 7d3f1a2b9c60
Revises: 8e4b0d2f6a31
Create Date: 2026-12-07 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7d3f1a2b9c60"
down_revision: str | None = "8e4b0d2f6a31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "candidate_score",
        sa.Column(
            "head_scores",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("candidate_score", schema=None) as batch_op:
        batch_op.drop_column("head_scores")
