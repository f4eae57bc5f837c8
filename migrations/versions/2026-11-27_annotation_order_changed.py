"""Record whether an annotator changed the shown order, and let a set skip the confirm.

`annotation.order_changed` says whether the annotator placed or moved any response before
submitting (NULL for rows stored before the field and for API callers that don't send it),
so researchers can tell a considered ranking from an untouched shuffle (issue 11).
`prompt_set.confirm_untouched_order` turns the page's "submit the order as shown?" confirm
off for sets whose shown order is meaningful; existing sets keep the confirm on.

Revision ID: 5b7e2c1d9a40
Revises: 84d93bf83806
Create Date: 2026-11-27 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b7e2c1d9a40"
down_revision: str | None = "84d93bf83806"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("annotation") as batch:
        batch.add_column(sa.Column("order_changed", sa.Boolean(), nullable=True))
    with op.batch_alter_table("prompt_set") as batch:
        # The server default fills existing rows; the app always writes the value itself.
        batch.add_column(
            sa.Column(
                "confirm_untouched_order", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("prompt_set") as batch:
        batch.drop_column("confirm_untouched_order")
    with op.batch_alter_table("annotation") as batch:
        batch.drop_column("order_changed")
