"""Generators: a prompt set's named generators; which one made each candidate.

Existing sets get one generator, "default", made of their generation settings, and their
generated candidates are marked as made by it. Jobs snapshot the generators; tasks carry
the position -> generator plan and the finished pipeline steps.

Revision ID: 5e1c0a7f3b21
Revises: 84d93bf83806
Create Date: 2026-11-30 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "5e1c0a7f3b21"
down_revision: str | None = "84d93bf83806"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = app.core.db.JSONType
NULLABLE_JSON = app.core.db.NullableJSONType


def upgrade() -> None:
    with op.batch_alter_table("prompt_set") as batch:
        batch.add_column(sa.Column("generators", JSON, nullable=True))
    with op.batch_alter_table("candidate") as batch:
        batch.add_column(sa.Column("generator", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("transcript", NULLABLE_JSON, nullable=True))
    with op.batch_alter_table("generation_job") as batch:
        batch.add_column(sa.Column("generators", JSON, nullable=True))
    with op.batch_alter_table("generation_task") as batch:
        batch.add_column(sa.Column("plan", JSON, nullable=True))
        batch.add_column(sa.Column("steps", JSON, nullable=True))

    conn = op.get_bind()
    prompt_set = sa.table(
        "prompt_set",
        sa.column("id", sa.Integer),
        sa.column("generation", JSON),
        sa.column("generators", JSON),
    )
    for row in conn.execute(sa.select(prompt_set.c.id, prompt_set.c.generation)).all():
        one = [{"name": "default", "competes": True, "settings": dict(row.generation or {})}]
        conn.execute(prompt_set.update().where(prompt_set.c.id == row.id).values(generators=one))
    conn.execute(sa.text("UPDATE candidate SET generator = 'default' WHERE source = 'generated'"))
    for table, column in (
        ("generation_job", "generators"),
        ("generation_task", "plan"),
        ("generation_task", "steps"),
    ):
        t = sa.table(table, sa.column(column, JSON))
        conn.execute(t.update().values({column: {}}))

    for table, columns in (
        ("prompt_set", ("generators",)),
        ("generation_job", ("generators",)),
        ("generation_task", ("plan", "steps")),
    ):
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, existing_type=JSON, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("generation_task") as batch:
        batch.drop_column("steps")
        batch.drop_column("plan")
    with op.batch_alter_table("generation_job") as batch:
        batch.drop_column("generators")
    with op.batch_alter_table("candidate") as batch:
        batch.drop_column("transcript")
        batch.drop_column("generator")
    with op.batch_alter_table("prompt_set") as batch:
        batch.drop_column("generators")
