"""Reward models and routing: versions, candidate scores, cached embeddings, priorities.

`reward_model` rows are both the versions of a prompt set's reward model and the
background jobs that train them; at most one per set is active (a partial unique index).
`candidate_score` holds each version's scores, `candidate_embedding` the frozen backbone's
embeddings so an unchanged candidate is never embedded twice. `prompt.priority` is the
hand-out order the claim scans by index (`prompt_set.routing` decides how it is written);
`prompt_set.retrain_every` retrains the fast model after that many new annotations.

Revision ID: 939f6f6f1164
Revises: 5e1c0a7f3b21
Create Date: 2026-11-30 01:08:10.081524
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.db

revision: str = "939f6f6f1164"
down_revision: str | None = "5e1c0a7f3b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reward_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_set_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("backbone", sa.String(length=500), nullable=False),
        sa.Column(
            "options",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "training_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("progress_message", sa.String(length=200), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("worker_id", sa.String(length=100), nullable=True),
        sa.Column("heartbeat_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("artifact_path", sa.String(length=1000), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "NOT is_active OR status = 'done'", name=op.f("ck_reward_model_active_is_done")
        ),
        sa.CheckConstraint("kind IN ('fast', 'full')", name=op.f("ck_reward_model_kind_known")),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'cancelled')",
            name=op.f("ck_reward_model_status_known"),
        ),
        sa.CheckConstraint(
            "progress >= 0 AND progress <= 1", name=op.f("ck_reward_model_progress_range")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_reward_model_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_set_id"],
            ["prompt_set.id"],
            name=op.f("fk_reward_model_prompt_set_id_prompt_set"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_model")),
    )
    op.create_index(
        "ix_reward_model_prompt_set_id", "reward_model", ["prompt_set_id"], unique=False
    )
    op.create_index("ix_reward_model_status", "reward_model", ["status"], unique=False)
    op.create_index(
        "uq_reward_model_active_per_set",
        "reward_model",
        ["prompt_set_id"],
        unique=True,
        postgresql_where=sa.text("is_active"),
        sqlite_where=sa.text("is_active"),
    )
    op.create_table(
        "candidate_embedding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("backbone", sa.String(length=300), nullable=False),
        sa.Column("pooling", sa.String(length=8), nullable=False),
        sa.Column("input_hash", sa.String(length=64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("dim > 0", name=op.f("ck_candidate_embedding_dim_positive")),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidate.id"],
            name=op.f("fk_candidate_embedding_candidate_id_candidate"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candidate_embedding")),
        sa.UniqueConstraint(
            "candidate_id",
            "backbone",
            "pooling",
            name=op.f("uq_candidate_embedding_candidate_id_backbone_pooling"),
        ),
    )
    op.create_table(
        "candidate_score",
        sa.Column("reward_model_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("spread", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidate.id"],
            name=op.f("fk_candidate_score_candidate_id_candidate"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reward_model_id"],
            ["reward_model.id"],
            name=op.f("fk_candidate_score_reward_model_id_reward_model"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reward_model_id", "candidate_id", name=op.f("pk_candidate_score")),
    )
    op.create_index(
        "ix_candidate_score_candidate_id", "candidate_score", ["candidate_id"], unique=False
    )
    with op.batch_alter_table("prompt") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
        batch.create_index("ix_prompt_claim_order", ["prompt_set_id", "priority", "id"])
    with op.batch_alter_table("prompt_set") as batch:
        batch.add_column(
            sa.Column("routing", sa.String(length=16), server_default="in_order", nullable=False)
        )
        batch.add_column(
            sa.Column("retrain_every", sa.Integer(), server_default="0", nullable=False)
        )
        batch.create_check_constraint(
            "routing_known", "routing IN ('in_order', 'random', 'uncertain_first')"
        )
        batch.create_check_constraint("retrain_every_non_negative", "retrain_every >= 0")


def downgrade() -> None:
    with op.batch_alter_table("prompt_set") as batch:
        batch.drop_constraint("retrain_every_non_negative", type_="check")
        batch.drop_constraint("routing_known", type_="check")
        batch.drop_column("retrain_every")
        batch.drop_column("routing")
    with op.batch_alter_table("prompt") as batch:
        batch.drop_index("ix_prompt_claim_order")
        batch.drop_column("priority")
    op.drop_index("ix_candidate_score_candidate_id", table_name="candidate_score")
    op.drop_table("candidate_score")
    op.drop_table("candidate_embedding")
    op.drop_index(
        "uq_reward_model_active_per_set",
        table_name="reward_model",
        postgresql_where=sa.text("is_active"),
        sqlite_where=sa.text("is_active"),
    )
    op.drop_index("ix_reward_model_status", table_name="reward_model")
    op.drop_index("ix_reward_model_prompt_set_id", table_name="reward_model")
    op.drop_table("reward_model")
