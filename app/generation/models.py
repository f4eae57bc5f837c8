"""Generation jobs and their per-prompt work items."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, utcnow

JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
TASK_STATUSES = ("pending", "running", "done", "failed")


class GenerationJob(Base):
    __tablename__ = "generation_job"
    __table_args__ = (
        CheckConstraint(f"status IN {JOB_STATUSES!r}", name="status_known"),
        CheckConstraint("total >= 0 AND done >= 0 AND failed >= 0", name="counts_non_negative"),
        CheckConstraint("done + failed <= total", name="counts_within_total"),
        Index("ix_generation_job_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_set_id: Mapped[int] = mapped_column(ForeignKey("prompt_set.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # Snapshot of the prompt set's generation settings when the job was created.
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Snapshot of the set's generators: {name: {"settings": JobSettings} | {"pipeline": ...}}.
    generators: Mapped[dict[str, Any]] = mapped_column(default=dict)
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    tokens_generated: Mapped[int] = mapped_column(default=0)
    tokens_per_second: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    worker_id: Mapped[str | None] = mapped_column(String(100))
    heartbeat_at: Mapped[dt.datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class GenerationTask(Base):
    """One prompt of one job: the unit workers claim, retry and mark done."""

    __tablename__ = "generation_task"
    __table_args__ = (
        UniqueConstraint("job_id", "prompt_id"),
        CheckConstraint(f"status IN {TASK_STATUSES!r}", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index("ix_generation_task_job_status", "job_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("generation_job.id", ondelete="CASCADE"))
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # Which generator makes each free candidate position: {"0": "hot", "1": "team"}.
    plan: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Finished pipeline steps, committed one stage at a time so a restarted worker resumes
    # them: {"<generator>/<position>": [{"agent", "role", "text", "tokens"}...]}.
    steps: Mapped[dict[str, Any]] = mapped_column(default=dict)
    worker_id: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
