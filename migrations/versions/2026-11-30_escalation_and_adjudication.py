"""More annotators where they disagree: a prompt set's annotators_max and escalation rule,
a prompt's extra seats, expert users, and the adjudication of prompts still contested.

Revision ID: 5e3a1c0d9b7f
Revises: da7d2290e0d7
Create Date: 2026-11-30 04:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.db

revision: str = "5e3a1c0d9b7f"
down_revision: str | None = "da7d2290e0d7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXTRA_SEATS_CHECK = "ck_prompt_extra_seats_non_negative"


def upgrade() -> None:
    with op.batch_alter_table("prompt_set") as batch:
        batch.add_column(sa.Column("annotators_max", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("escalate_below_tau", sa.Double(), server_default="0.5", nullable=False)
        )
        batch.add_column(
            sa.Column(
                "escalate_on_split_top", sa.Boolean(), server_default=sa.true(), nullable=False
            )
        )
        batch.create_check_constraint(
            "annotators_max_range",
            "annotators_max IS NULL OR annotators_max BETWEEN annotators_per_prompt AND 100",
        )
        batch.create_check_constraint(
            "escalate_below_tau_range", "escalate_below_tau BETWEEN -1 AND 1"
        )
    op.add_column(
        "prompt", sa.Column("extra_seats", sa.Integer(), server_default="0", nullable=False)
    )
    if op.get_bind().dialect.name != "sqlite":
        # SQLite cannot add a CHECK without rebuilding the (large) prompt table; the only
        # writer, app.annotation.escalation, never goes below 0.
        op.create_check_constraint(op.f(EXTRA_SEATS_CHECK), "prompt", "extra_seats >= 0")
    op.add_column(
        "user_account",
        sa.Column("is_expert", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_table(
        "adjudication",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("adjudicator_id", sa.Integer(), nullable=True),
        sa.Column(
            "ranking",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "note IS NULL OR length(note) <= 5000", name=op.f("ck_adjudication_note_length")
        ),
        sa.ForeignKeyConstraint(
            ["adjudicator_id"],
            ["user_account.id"],
            name=op.f("fk_adjudication_adjudicator_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompt.id"],
            name=op.f("fk_adjudication_prompt_id_prompt"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adjudication")),
        sa.UniqueConstraint("prompt_id", name=op.f("uq_adjudication_prompt_id")),
    )


def downgrade() -> None:
    op.drop_table("adjudication")
    op.drop_column("user_account", "is_expert")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f(EXTRA_SEATS_CHECK), "prompt", type_="check")
    op.drop_column("prompt", "extra_seats")
    with op.batch_alter_table("prompt_set") as batch:
        batch.drop_constraint("escalate_below_tau_range", type_="check")
        batch.drop_constraint("annotators_max_range", type_="check")
        batch.drop_column("escalate_on_split_top")
        batch.drop_column("escalate_below_tau")
        batch.drop_column("annotators_max")
