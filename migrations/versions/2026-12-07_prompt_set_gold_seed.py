"""prompt_set.gold_seed: the secret that places and orders each annotator's gold items.

Issue 20, item 1: gold came at fixed places (every fifth item) in prompt id order, the
same for everyone. app.annotation.gold_pacing now draws each annotator's gold turns and
gold order from a keyed hash of this per-set secret. Existing sets get a fresh random
seed each (their annotators' next gold turns change; nothing stored depends on them).
The column is added nullable, filled, then made NOT NULL (a table rebuild on SQLite, with
foreign keys off as migrations/env.py arranges).

Revision ID: 7d3a9c1e5f20
Revises: 5b1e0c7d9a42
Create Date: 2026-12-07 12:40:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d3a9c1e5f20"
down_revision: str | None = "5b1e0c7d9a42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_prompt_set = sa.table("prompt_set", sa.column("id", sa.Integer), sa.column("gold_seed"))


def upgrade() -> None:
    op.add_column("prompt_set", sa.Column("gold_seed", sa.String(length=32), nullable=True))
    conn = op.get_bind()
    for set_id in conn.execute(sa.select(_prompt_set.c.id)).scalars().all():
        conn.execute(
            sa.update(_prompt_set)
            .where(_prompt_set.c.id == set_id)
            .values(gold_seed=secrets.token_hex(16))
        )
    with op.batch_alter_table("prompt_set", schema=None) as batch_op:
        batch_op.alter_column("gold_seed", existing_type=sa.String(length=32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("prompt_set", schema=None) as batch_op:
        batch_op.drop_column("gold_seed")
