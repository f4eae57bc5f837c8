"""Qualification and calibration: prompt-set settings and per-annotator standing.

A prompt set can run a qualification round (`qualification_items` gold items first,
passed with `qualification_min_agreement` of them agreed) and pause annotators whose
rolling gold accuracy over `gold_window` answers falls under `gold_pause_below`.
`annotator_standing` holds each (set, annotator)'s state with the numbers behind it.
The prompt_set rebuild (SQLite check constraints) touches a table of a few rows.

Revision ID: 5c1f0a9e7b21
Revises: 5e3a1c0d9b7f
Create Date: 2026-11-30 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "5c1f0a9e7b21"
down_revision: str | None = "5e3a1c0d9b7f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prompt_set") as batch:
        batch.add_column(
            sa.Column("qualification_items", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column(
                "qualification_min_agreement", sa.Double(), server_default="0.8", nullable=False
            )
        )
        batch.add_column(sa.Column("gold_pause_below", sa.Double(), nullable=True))
        batch.add_column(
            sa.Column("gold_window", sa.Integer(), server_default="10", nullable=False)
        )
        batch.create_check_constraint(
            "qualification_items_range", "qualification_items BETWEEN 0 AND 100"
        )
        batch.create_check_constraint(
            "qualification_min_agreement_range", "qualification_min_agreement BETWEEN 0 AND 1"
        )
        batch.create_check_constraint(
            "gold_pause_below_range", "gold_pause_below IS NULL OR gold_pause_below BETWEEN 0 AND 1"
        )
        batch.create_check_constraint("gold_window_range", "gold_window BETWEEN 1 AND 1000")
    op.create_table(
        "annotator_standing",
        sa.Column("prompt_set_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("counts_after_annotation_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "state IN ('qualifying', 'qualified', 'failed', 'paused')",
            name=op.f("ck_annotator_standing_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["user_account.id"],
            name=op.f("fk_annotator_standing_annotator_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_set_id"],
            ["prompt_set.id"],
            name=op.f("fk_annotator_standing_prompt_set_id_prompt_set"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["user_account.id"],
            name=op.f("fk_annotator_standing_updated_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint(
            "prompt_set_id", "annotator_id", name=op.f("pk_annotator_standing")
        ),
    )


def downgrade() -> None:
    op.drop_table("annotator_standing")
    with op.batch_alter_table("prompt_set") as batch:
        batch.drop_constraint("gold_window_range", type_="check")
        batch.drop_constraint("gold_pause_below_range", type_="check")
        batch.drop_constraint("qualification_min_agreement_range", type_="check")
        batch.drop_constraint("qualification_items_range", type_="check")
        batch.drop_column("gold_window")
        batch.drop_column("gold_pause_below")
        batch.drop_column("qualification_min_agreement")
        batch.drop_column("qualification_items")
