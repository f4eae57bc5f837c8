"""Reward model versions, the scores they give candidates, and cached embeddings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, JSONType, NullableJSONType, utcnow

KINDS = ("fast", "full")
STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE_STATUSES = ("queued", "running")


class RewardModel(Base):
    """One trained (or training) version of a prompt set's reward model.

    The row is also the background job: `ranklab worker` claims queued rows, keeps
    `heartbeat_at` fresh and writes status, progress and the outcome here.
    """

    __tablename__ = "reward_model"
    __table_args__ = (
        CheckConstraint(f"kind IN {KINDS!r}", name="kind_known"),
        CheckConstraint(f"status IN {STATUSES!r}", name="status_known"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_range"),
        # Only a finished version can be the active one.
        CheckConstraint("NOT is_active OR status = 'done'", name="active_is_done"),
        Index("ix_reward_model_status", "status"),
        Index("ix_reward_model_prompt_set_id", "prompt_set_id"),
        # At most one active version per prompt set, guarded by the database.
        Index(
            "uq_reward_model_active_per_set",
            "prompt_set_id",
            unique=True,
            postgresql_where=text("is_active"),
            sqlite_where=text("is_active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_set_id: Mapped[int] = mapped_column(ForeignKey("prompt_set.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    # The model setting the backbone came from (`smollm2`, a folder, a .gguf path).
    backbone: Mapped[str] = mapped_column(String(500))
    # Training options as validated (app.reward.schemas.TrainOptions).
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # What it saw: annotation and comparison counts, the pair rules used (export options).
    training_data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Held-out accuracy with CI, human references, baselines, learning curve, the comparison
    # with the active version (app.reward.evaluation, service.finish_version).
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    is_active: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[float] = mapped_column(default=0.0)
    progress_message: Mapped[str] = mapped_column(String(200), default="")
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    worker_id: Mapped[str | None] = mapped_column(String(100))
    heartbeat_at: Mapped[dt.datetime | None]
    # Folder under <data_dir>/reward_models holding the trained artifact.
    artifact_path: Mapped[str | None] = mapped_column(String(1000))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class CandidateScore(Base):
    """A version's score for a candidate; `spread` is the ensemble's standard deviation.

    `head_scores` keeps each bootstrap head's score: routing needs the spread of the
    *gap* between two candidates of a prompt, which per-candidate spreads cannot give
    (the same heads score both; issue 20). None for full versions and older rows."""

    __tablename__ = "candidate_score"
    __table_args__ = (Index("ix_candidate_score_candidate_id", "candidate_id"),)

    reward_model_id: Mapped[int] = mapped_column(
        ForeignKey("reward_model.id", ondelete="CASCADE"), primary_key=True
    )
    candidate_id: Mapped[int] = mapped_column(
        ForeignKey("candidate.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[float]
    spread: Mapped[float] = mapped_column(default=0.0)
    head_scores: Mapped[list[float] | None] = mapped_column(NullableJSONType)


class CandidateEmbedding(Base):
    """A frozen backbone's embedding of (prompt, candidate), computed once.

    `input_hash` is the hash of the exact text the backbone read (chat template applied):
    an unchanged candidate under an unchanged prompt is never embedded again.
    """

    __tablename__ = "candidate_embedding"
    __table_args__ = (
        UniqueConstraint("candidate_id", "backbone", "pooling"),
        CheckConstraint("dim > 0", name="dim_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidate.id", ondelete="CASCADE"))
    # The backbone's identity: its name and a hash of its weights file (app.reward.backbone).
    backbone: Mapped[str] = mapped_column(String(300))
    pooling: Mapped[str] = mapped_column(String(8))
    input_hash: Mapped[str] = mapped_column(String(64))
    dim: Mapped[int]
    # float32 little-endian, `dim` values.
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
