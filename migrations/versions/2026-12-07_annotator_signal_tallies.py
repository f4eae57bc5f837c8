"""Signal tallies (issue 22): the bias and spam signals' sufficient statistics per (prompt
set, annotator), items per display pattern, and each set's stored speed baseline.

The people pages read these instead of streaming every annotation; the submit path keeps
them (app.annotation.signal_tallies). The back-fill is that module's `rebuild`, the same
from-scratch recomputation the tests compare the submit path's updates with. The speed
baselines start empty: the first page view computes them in the background.

Revision ID: 3c9e5a7b1d24
Revises: 7d3f1a2b9c60
Create Date: 2026-12-07 13:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db
from app.annotation.signal_tallies import rebuild

revision: str = "3c9e5a7b1d24"
down_revision: str | None = "7d3f1a2b9c60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _keys(table: str) -> list[sa.ForeignKeyConstraint]:
    return [
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["user_account.id"],
            name=op.f(f"fk_{table}_annotator_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_set_id"],
            ["prompt_set.id"],
            name=op.f(f"fk_{table}_prompt_set_id_prompt_set"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "annotator_signal_tally",
        sa.Column("prompt_set_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("position_items", sa.Integer(), nullable=False),
        sa.Column("position_hits", sa.Integer(), nullable=False),
        sa.Column("position_expected", sa.Double(), nullable=False),
        sa.Column("position_variance", sa.Double(), nullable=False),
        sa.Column("untouched_items", sa.Integer(), nullable=False),
        sa.Column("untouched_hits", sa.Integer(), nullable=False),
        sa.Column("untouched_expected", sa.Double(), nullable=False),
        sa.Column("untouched_variance", sa.Double(), nullable=False),
        sa.Column("run_items", sa.Integer(), nullable=False),
        sa.Column("run_pattern", sa.String(length=200), nullable=True),
        sa.Column("run_length", sa.Integer(), nullable=False),
        sa.Column("run_longest", sa.Integer(), nullable=False),
        sa.Column("run_longest_chance", sa.Double(), nullable=False),
        sa.Column("timed", sa.Integer(), nullable=False),
        sa.Column("log_rate_sum", sa.Double(), nullable=False),
        *_keys("annotator_signal_tally"),
        sa.PrimaryKeyConstraint(
            "prompt_set_id", "annotator_id", name=op.f("pk_annotator_signal_tally")
        ),
    )
    op.create_table(
        "annotator_pattern_tally",
        sa.Column("prompt_set_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=200), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        *_keys("annotator_pattern_tally"),
        sa.PrimaryKeyConstraint(
            "prompt_set_id", "annotator_id", "pattern", name=op.f("pk_annotator_pattern_tally")
        ),
    )
    op.create_table(
        "speed_baseline",
        sa.Column("prompt_set_id", sa.Integer(), nullable=False),
        sa.Column("timed", sa.Integer(), nullable=False),
        sa.Column("median", sa.Double(), nullable=True),
        sa.Column("scale", sa.Double(), nullable=True),
        sa.Column("computed_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_set_id"],
            ["prompt_set.id"],
            name=op.f("fk_speed_baseline_prompt_set_id_prompt_set"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prompt_set_id", name=op.f("pk_speed_baseline")),
    )
    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table("speed_baseline")
    op.drop_table("annotator_pattern_tally")
    op.drop_table("annotator_signal_tally")
