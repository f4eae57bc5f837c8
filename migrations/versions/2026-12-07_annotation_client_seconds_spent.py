"""annotation.client_seconds_spent: the client's own timing, kept beside the server's.

Issue 20, item 2: `seconds_spent` was the client's figure whenever it sent one (600 s one
second after the lease). The submit now stores the server's measure there (lease hand-out
to submit, capped by the lease) and the client's figure here, for reference only. Rows
stored before keep their `seconds_spent` as it was (it cannot be measured after the fact)
and have no client figure. A nullable column without a default: no table rebuild on SQLite.

Revision ID: 8e4b0d2f6a31
Revises: 7d3a9c1e5f20
Create Date: 2026-12-07 12:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8e4b0d2f6a31"
down_revision: str | None = "7d3a9c1e5f20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("annotation", sa.Column("client_seconds_spent", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.drop_column("client_seconds_spent")
