"""A partial index of the leases still open (issue 23): /metrics counts live and expired
leases on every scrape, and the assignment table's other indexes lead with the prompt or
the annotator, so that count read every assignment ever made. Only the rows with status
'leased' are in it: a few per active annotator, however many rankings are stored.

Revision ID: 5e8b2c4d6f13
Revises: 9e4b2d6a8c13
Create Date: 2026-12-07 16:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e8b2c4d6f13"
down_revision: str | None = "9e4b2d6a8c13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEASED = sa.text("status = 'leased'")


def upgrade() -> None:
    op.create_index(
        "ix_assignment_leased_expiry",
        "assignment",
        ["lease_expires_at"],
        postgresql_where=LEASED,
        sqlite_where=LEASED,
    )


def downgrade() -> None:
    op.drop_index("ix_assignment_leased_expiry", table_name="assignment")
