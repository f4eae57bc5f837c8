"""Initial schema: accounts, prompt sets, candidates, generation jobs, annotation.

Every rule a constraint can hold is a constraint here: one assignment per prompt and
annotator, one annotation per assignment, idempotency keys unique per annotator, candidate
positions unique per prompt, content hashes unique per prompt set, known status values.

Revision ID: 84d93bf83806
Revises:
Create Date: 2026-11-26 06:30:49.539426
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.db

revision: str = "84d93bf83806"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("invite_token_hash", sa.String(length=64), nullable=True),
        sa.Column("invite_expires_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('admin', 'researcher', 'annotator')", name=op.f("ck_user_account_role_known")
        ),
        sa.CheckConstraint(
            "length(username) BETWEEN 1 AND 64", name=op.f("ck_user_account_username_length")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("invite_token_hash", name=op.f("uq_user_account_invite_token_hash")),
        sa.UniqueConstraint("username", name=op.f("uq_user_account_username")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_api_token_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "prompt_set",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("guidelines", sa.Text(), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column(
            "generation",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("candidates_per_prompt", sa.Integer(), nullable=False),
        sa.Column("annotators_per_prompt", sa.Integer(), nullable=False),
        sa.Column("lease_seconds", sa.Integer(), nullable=False),
        sa.Column("require_rationale", sa.Boolean(), nullable=False),
        sa.Column("require_ratings", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'archived')", name=op.f("ck_prompt_set_status_known")
        ),
        sa.CheckConstraint(
            "annotators_per_prompt BETWEEN 1 AND 100",
            name=op.f("ck_prompt_set_annotators_per_prompt_range"),
        ),
        sa.CheckConstraint(
            "candidates_per_prompt BETWEEN 2 AND 8",
            name=op.f("ck_prompt_set_candidates_per_prompt_range"),
        ),
        sa.CheckConstraint("lease_seconds >= 30", name=op.f("ck_prompt_set_lease_seconds_min")),
        sa.CheckConstraint(
            "length(name) BETWEEN 1 AND 200", name=op.f("ck_prompt_set_name_length")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_prompt_set_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_set")),
        sa.UniqueConstraint("name", name=op.f("uq_prompt_set_name")),
    )
    op.create_table(
        "generation_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_set_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("tokens_generated", sa.Integer(), nullable=False),
        sa.Column("tokens_per_second", sa.Double(), nullable=True),
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
            name=op.f("ck_generation_job_status_known"),
        ),
        sa.CheckConstraint(
            "done + failed <= total", name=op.f("ck_generation_job_counts_within_total")
        ),
        sa.CheckConstraint(
            "total >= 0 AND done >= 0 AND failed >= 0",
            name=op.f("ck_generation_job_counts_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_generation_job_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_set_id"],
            ["prompt_set.id"],
            name=op.f("fk_generation_job_prompt_set_id_prompt_set"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation_job")),
    )
    with op.batch_alter_table("generation_job", schema=None) as batch_op:
        batch_op.create_index("ix_generation_job_status", ["status"], unique=False)

    op.create_table(
        "prompt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_set_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column(
            "messages",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("candidates_ready", sa.Boolean(), nullable=False),
        sa.Column("is_gold", sa.Boolean(), nullable=False),
        sa.Column(
            "gold_ranking",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('active', 'archived')", name=op.f("ck_prompt_status_known")),
        sa.CheckConstraint(
            "(text IS NULL) <> (messages IS NULL)", name=op.f("ck_prompt_text_xor_messages")
        ),
        sa.CheckConstraint("length(content_hash) = 64", name=op.f("ck_prompt_content_hash_sha256")),
        sa.ForeignKeyConstraint(
            ["prompt_set_id"],
            ["prompt_set.id"],
            name=op.f("fk_prompt_prompt_set_id_prompt_set"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt")),
        sa.UniqueConstraint(
            "prompt_set_id", "content_hash", name=op.f("uq_prompt_prompt_set_id_content_hash")
        ),
        sa.UniqueConstraint(
            "prompt_set_id", "external_id", name=op.f("uq_prompt_prompt_set_id_external_id")
        ),
    )
    with op.batch_alter_table("prompt", schema=None) as batch_op:
        batch_op.create_index("ix_prompt_set_status", ["prompt_set_id", "status"], unique=False)

    op.create_table(
        "assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("leased_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_expires_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("skip_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "status IN ('leased', 'submitted', 'skipped', 'expired', 'released')",
            name=op.f("ck_assignment_status_known"),
        ),
        sa.CheckConstraint(
            "lease_expires_at > leased_at", name=op.f("ck_assignment_lease_after_start")
        ),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["user_account.id"],
            name=op.f("fk_assignment_annotator_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompt.id"],
            name=op.f("fk_assignment_prompt_id_prompt"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment")),
        sa.UniqueConstraint(
            "prompt_id", "annotator_id", name=op.f("uq_assignment_prompt_id_annotator_id")
        ),
    )
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assignment_annotator_status", ["annotator_id", "status"], unique=False
        )
        batch_op.create_index("ix_assignment_prompt_status", ["prompt_id", "status"], unique=False)

    op.create_table(
        "candidate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column(
            "sampling",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Double(), nullable=True),
        sa.Column("is_duplicate", sa.Boolean(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('generated', 'imported')", name=op.f("ck_candidate_source_known")
        ),
        sa.CheckConstraint(
            "position >= 0 AND position < 64", name=op.f("ck_candidate_position_range")
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompt.id"],
            name=op.f("fk_candidate_prompt_id_prompt"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candidate")),
        sa.UniqueConstraint("prompt_id", "position", name=op.f("uq_candidate_prompt_id_position")),
    )
    op.create_table(
        "generation_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker_id", sa.String(length=100), nullable=True),
        sa.Column("claimed_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'done', 'failed')",
            name=op.f("ck_generation_task_status_known"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_generation_task_attempts_non_negative")),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["generation_job.id"],
            name=op.f("fk_generation_task_job_id_generation_job"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompt.id"],
            name=op.f("fk_generation_task_prompt_id_prompt"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation_task")),
        sa.UniqueConstraint(
            "job_id", "prompt_id", name=op.f("uq_generation_task_job_id_prompt_id")
        ),
    )
    with op.batch_alter_table("generation_task", schema=None) as batch_op:
        batch_op.create_index("ix_generation_task_job_status", ["job_id", "status"], unique=False)

    op.create_table(
        "annotation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column(
            "ranking",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("all_bad", sa.Boolean(), nullable=False),
        sa.Column(
            "flags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "ratings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("seconds_spent", sa.Double(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rationale IS NULL OR length(rationale) <= 5000",
            name=op.f("ck_annotation_rationale_length"),
        ),
        sa.CheckConstraint(
            "seconds_spent >= 0", name=op.f("ck_annotation_seconds_spent_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["user_account.id"],
            name=op.f("fk_annotation_annotator_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignment.id"],
            name=op.f("fk_annotation_assignment_id_assignment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompt.id"],
            name=op.f("fk_annotation_prompt_id_prompt"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation")),
        sa.UniqueConstraint(
            "annotator_id",
            "idempotency_key",
            name=op.f("uq_annotation_annotator_id_idempotency_key"),
        ),
        sa.UniqueConstraint("assignment_id", name=op.f("uq_annotation_assignment_id")),
        sa.UniqueConstraint(
            "prompt_id", "annotator_id", name=op.f("uq_annotation_prompt_id_annotator_id")
        ),
    )
    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.create_index("ix_annotation_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_annotation_prompt", ["prompt_id"], unique=False)

    op.create_table(
        "comparison",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("annotation_id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("chosen_candidate_id", sa.Integer(), nullable=False),
        sa.Column("rejected_candidate_id", sa.Integer(), nullable=False),
        sa.Column("margin", sa.Integer(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "chosen_candidate_id <> rejected_candidate_id",
            name=op.f("ck_comparison_distinct_candidates"),
        ),
        sa.CheckConstraint("margin >= 1", name=op.f("ck_comparison_margin_positive")),
        sa.ForeignKeyConstraint(
            ["annotation_id"],
            ["annotation.id"],
            name=op.f("fk_comparison_annotation_id_annotation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["chosen_candidate_id"],
            ["candidate.id"],
            name=op.f("fk_comparison_chosen_candidate_id_candidate"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompt.id"],
            name=op.f("fk_comparison_prompt_id_prompt"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rejected_candidate_id"],
            ["candidate.id"],
            name=op.f("fk_comparison_rejected_candidate_id_candidate"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comparison")),
        sa.UniqueConstraint(
            "annotation_id",
            "chosen_candidate_id",
            "rejected_candidate_id",
            name="uq_comparison_pair",
        ),
    )
    with op.batch_alter_table("comparison", schema=None) as batch_op:
        batch_op.create_index("ix_comparison_prompt", ["prompt_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("comparison", schema=None) as batch_op:
        batch_op.drop_index("ix_comparison_prompt")

    op.drop_table("comparison")
    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.drop_index("ix_annotation_prompt")
        batch_op.drop_index("ix_annotation_created_at")

    op.drop_table("annotation")
    with op.batch_alter_table("generation_task", schema=None) as batch_op:
        batch_op.drop_index("ix_generation_task_job_status")

    op.drop_table("generation_task")
    op.drop_table("candidate")
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_index("ix_assignment_prompt_status")
        batch_op.drop_index("ix_assignment_annotator_status")

    op.drop_table("assignment")
    with op.batch_alter_table("prompt", schema=None) as batch_op:
        batch_op.drop_index("ix_prompt_set_status")

    op.drop_table("prompt")
    with op.batch_alter_table("generation_job", schema=None) as batch_op:
        batch_op.drop_index("ix_generation_job_status")

    op.drop_table("generation_job")
    op.drop_table("prompt_set")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))

    op.drop_table("api_token")
    op.drop_table("user_account")
