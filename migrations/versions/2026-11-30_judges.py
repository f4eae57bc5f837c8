"""Judges: versioned LLM judges of a prompt set, their runs, and the rankings they give.

Judge rankings live in `judge_ranking`, not `annotation`, so nothing that counts human
work can count them. `annotation.suggestion_shown` records whether the page started the
annotator from a judge's suggested order (anchoring is a known bias).

Revision ID: da7d2290e0d7
Revises: 939f6f6f1164
Create Date: 2026-11-30 04:18:38.169624
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.db

revision: str = "da7d2290e0d7"
down_revision: str | None = "939f6f6f1164"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "judge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_set_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("rubric", sa.Text(), nullable=False),
        sa.Column("suggest_to_annotators", sa.Boolean(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mode IN ('listwise', 'pairwise')", name=op.f("ck_judge_mode_known")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_judge_version_positive")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_judge_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_set_id"],
            ["prompt_set.id"],
            name=op.f("fk_judge_prompt_set_id_prompt_set"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judge")),
        sa.UniqueConstraint(
            "prompt_set_id", "name", "version", name=op.f("uq_judge_prompt_set_id_name_version")
        ),
    )
    with op.batch_alter_table("judge", schema=None) as batch_op:
        batch_op.create_index("ix_judge_prompt_set_id", ["prompt_set_id"], unique=False)

    op.create_table(
        "judge_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("judge_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("worker_id", sa.String(length=100), nullable=True),
        sa.Column("heartbeat_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'cancelled')",
            name=op.f("ck_judge_run_status_known"),
        ),
        sa.CheckConstraint(
            "done >= 0 AND failed >= 0 AND total >= 0",
            name=op.f("ck_judge_run_counts_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_judge_run_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["judge_id"], ["judge.id"], name=op.f("fk_judge_run_judge_id_judge"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judge_run")),
    )
    with op.batch_alter_table("judge_run", schema=None) as batch_op:
        batch_op.create_index("ix_judge_run_judge_id", ["judge_id"], unique=False)
        batch_op.create_index("ix_judge_run_status", ["status"], unique=False)

    op.create_table(
        "judge_ranking",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("judge_id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "ranking",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("raw_output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("pairs_judged", sa.Integer(), nullable=True),
        sa.Column("position_flips", sa.Integer(), nullable=True),
        sa.Column("seconds_spent", sa.Double(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'ranked') = (ranking IS NOT NULL)",
            name=op.f("ck_judge_ranking_ranking_iff_ranked"),
        ),
        sa.CheckConstraint(
            "status IN ('ranked', 'failed')", name=op.f("ck_judge_ranking_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["judge_id"],
            ["judge.id"],
            name=op.f("fk_judge_ranking_judge_id_judge"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompt.id"],
            name=op.f("fk_judge_ranking_prompt_id_prompt"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["judge_run.id"],
            name=op.f("fk_judge_ranking_run_id_judge_run"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judge_ranking")),
        sa.UniqueConstraint(
            "judge_id", "prompt_id", name=op.f("uq_judge_ranking_judge_id_prompt_id")
        ),
    )
    with op.batch_alter_table("judge_ranking", schema=None) as batch_op:
        batch_op.create_index("ix_judge_ranking_prompt_id", ["prompt_id"], unique=False)

    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("suggestion_shown", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.drop_column("suggestion_shown")

    with op.batch_alter_table("judge_ranking", schema=None) as batch_op:
        batch_op.drop_index("ix_judge_ranking_prompt_id")

    op.drop_table("judge_ranking")
    with op.batch_alter_table("judge_run", schema=None) as batch_op:
        batch_op.drop_index("ix_judge_run_status")
        batch_op.drop_index("ix_judge_run_judge_id")

    op.drop_table("judge_run")
    with op.batch_alter_table("judge", schema=None) as batch_op:
        batch_op.drop_index("ix_judge_prompt_set_id")

    op.drop_table("judge")
