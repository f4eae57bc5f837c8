"""Generators: a prompt set's named generators; which one made each candidate.

Existing sets get one generator, "default", made of their generation settings, and their
generated candidates are marked as made by it. Jobs snapshot the generators; tasks carry
the position -> generator plan and the finished pipeline steps.

Revision ID: 5e1c0a7f3b21
Revises: 5e1b7a2c9d40
Create Date: 2026-11-30 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "5e1c0a7f3b21"
down_revision: str | None = "5e1b7a2c9d40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = app.core.db.JSONType
NULLABLE_JSON = app.core.db.NullableJSONType


# Plain ADD/DROP COLUMN, never batch mode: on SQLite a batch "move and copy" drops and
# recreates the table, and with foreign keys on, dropping prompt_set (or candidate) would
# cascade-delete every prompt (or comparison). New NOT NULL columns come with a server
# default so existing rows are valid at once.
EMPTY_LIST = sa.text("'[]'")
EMPTY_OBJECT = sa.text("'{}'")


def upgrade() -> None:
    op.add_column(
        "prompt_set", sa.Column("generators", JSON, nullable=False, server_default=EMPTY_LIST)
    )
    op.add_column(
        "candidate", sa.Column("generator", sa.String(64), nullable=False, server_default="")
    )
    op.add_column("candidate", sa.Column("transcript", NULLABLE_JSON, nullable=True))
    op.add_column(
        "generation_job",
        sa.Column("generators", JSON, nullable=False, server_default=EMPTY_OBJECT),
    )
    op.add_column(
        "generation_task", sa.Column("plan", JSON, nullable=False, server_default=EMPTY_OBJECT)
    )
    op.add_column(
        "generation_task", sa.Column("steps", JSON, nullable=False, server_default=EMPTY_OBJECT)
    )

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


def downgrade() -> None:
    for table, column in (
        ("generation_task", "steps"),
        ("generation_task", "plan"),
        ("generation_job", "generators"),
        ("candidate", "transcript"),
        ("candidate", "generator"),
        ("prompt_set", "generators"),
    ):
        op.drop_column(table, column)
