"""Judges (one row per version), their background runs, and the rankings they give."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    delete,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.core.db import Base, JSONType, NullableJSONType, utcnow
from app.prompt_sets import dependents

MODES = ("listwise", "pairwise")
RUN_STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE_RUN_STATUSES = ("queued", "running")
RANKING_STATUSES = ("ranked", "failed")


class Judge(Base):
    """One version of a named judge of a prompt set.

    Editing a judge writes a new version row (same name, version + 1) and leaves the old
    one, so every stored ranking keeps pointing at the rubric and settings that made it
    and agreement can be reported per rubric version.
    """

    __tablename__ = "judge"
    __table_args__ = (
        UniqueConstraint("prompt_set_id", "name", "version"),
        CheckConstraint(f"mode IN {MODES!r}", name="mode_known"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_judge_prompt_set_id", "prompt_set_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_set_id: Mapped[int] = mapped_column(ForeignKey("prompt_set.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(default=1)
    # listwise: one call ranks all candidates; pairwise: each pair judged in both orders.
    mode: Mapped[str] = mapped_column(String(16), default="listwise")
    # Backend, model and sampling settings, validated like a generator's settings.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The rubric prompt template the judge model is asked with.
    rubric: Mapped[str] = mapped_column(Text)
    # Off by default: annotators see this judge's order as their starting order
    # (anchoring is a known bias, so each annotation records whether it was shown).
    suggest_to_annotators: Mapped[bool] = mapped_column(default=False)
    # False on versions replaced by a newer edit of the same name.
    is_current: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class JudgeRun(Base):
    """A background job that has one judge version rank a set's prompts.

    Claimed by `ranklab worker` like a generation job: status, progress and heartbeat
    live on the row.
    """

    __tablename__ = "judge_run"
    __table_args__ = (
        CheckConstraint(f"status IN {RUN_STATUSES!r}", name="status_known"),
        CheckConstraint("done >= 0 AND failed >= 0 AND total >= 0", name="counts_non_negative"),
        Index("ix_judge_run_status", "status"),
        Index("ix_judge_run_judge_id", "judge_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    judge_id: Mapped[int] = mapped_column(ForeignKey("judge.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
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


class JudgeRanking(Base):
    """A judge annotation: one judge version's ranking of one prompt's candidates.

    A judge whose output cannot be parsed gets status "failed" with the raw text kept
    for the admin, never a made-up ranking.
    """

    __tablename__ = "judge_ranking"
    __table_args__ = (
        UniqueConstraint("judge_id", "prompt_id"),
        CheckConstraint(f"status IN {RANKING_STATUSES!r}", name="status_known"),
        CheckConstraint("(status = 'ranked') = (ranking IS NOT NULL)", name="ranking_iff_ranked"),
        Index("ix_judge_ranking_prompt_id", "prompt_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    judge_id: Mapped[int] = mapped_column(ForeignKey("judge.id", ondelete="CASCADE"))
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("judge_run.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16))
    # Tie groups of candidate ids, best first (as in `annotation.ranking`); NULL if failed.
    ranking: Mapped[list[list[int]] | None] = mapped_column(NullableJSONType)
    # The model's raw answer(s), kept for the admin (always for failures).
    raw_output: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    # Pairwise mode: pairs judged in both orders, and how many changed verdict when
    # the presentation order flipped (position consistency).
    pairs_judged: Mapped[int | None]
    position_flips: Mapped[int | None]
    seconds_spent: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Quality figures of this ranking against the people's (issue 22; app.judges.figures
    # keeps them, the dashboard sums them). `figures_at`: the prompt's human_rankings they
    # were computed at, -1 before the first time; they are stale where it differs.
    figures_at: Mapped[int] = mapped_column(default=-1, server_default="-1")
    agree: Mapped[int] = mapped_column(default=0, server_default="0")  # pairs on the majority
    agree_total: Mapped[int] = mapped_column(default=0, server_default="0")  # pairs with one
    judge_longer: Mapped[int] = mapped_column(default=0, server_default="0")  # to the longer
    judge_unequal: Mapped[int] = mapped_column(default=0, server_default="0")  # unequal length
    people_longer: Mapped[int] = mapped_column(default=0, server_default="0")  # the same, people
    people_unequal: Mapped[int] = mapped_column(default=0, server_default="0")


@dependents.on_candidates_replaced
def drop_rankings_of_replaced_candidates(session: Session, prompt_ids: list[int]) -> None:
    """A prompt's candidates were replaced: its judge rankings name ids that are gone, so
    they go too (in the caller's transaction), and a judge run ranks the prompt again
    once its new candidates are ready (issue 20, item 12). Registered next to the table,
    so every process that maps it has the hook."""
    session.execute(delete(JudgeRanking).where(JudgeRanking.prompt_id.in_(prompt_ids)))
