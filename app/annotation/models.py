"""Leases of prompts to annotators, their rankings, and the pairwise comparisons derived."""

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
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, JSONType, NullableJSONType, utcnow

ASSIGNMENT_STATUSES = ("leased", "submitted", "skipped", "expired", "released")
FLAG_KINDS = ("unsafe", "factually_wrong", "broken", "refusal")
MAX_RATIONALE_CHARS = 5000


class Assignment(Base):
    __tablename__ = "assignment"
    __table_args__ = (
        # One row per (prompt, annotator), ever: an annotator never gets a prompt twice.
        UniqueConstraint("prompt_id", "annotator_id"),
        CheckConstraint(f"status IN {ASSIGNMENT_STATUSES!r}", name="status_known"),
        CheckConstraint("lease_expires_at > leased_at", name="lease_after_start"),
        Index("ix_assignment_annotator_status", "annotator_id", "status"),
        Index("ix_assignment_prompt_status", "prompt_id", "status"),
        # The open leases only (issue 23): /metrics counts live and expired ones per scrape.
        Index(
            "ix_assignment_leased_expiry",
            "lease_expires_at",
            postgresql_where=text("status = 'leased'"),
            sqlite_where=text("status = 'leased'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="leased")
    leased_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    skip_reason: Mapped[str | None] = mapped_column(String(500))
    # The starting order (candidate ids, best first) served from a judge's suggestion
    # (issue 13); NULL: none was shown. The submit copies "was one shown" onto the
    # annotation, so that record comes from what the server served, not from the client.
    suggested_order: Mapped[list[int] | None] = mapped_column(NullableJSONType)


class Annotation(Base):
    __tablename__ = "annotation"
    __table_args__ = (
        UniqueConstraint("assignment_id"),
        UniqueConstraint("prompt_id", "annotator_id"),
        # A retried submission carries the same key and is stored once.
        UniqueConstraint("annotator_id", "idempotency_key"),
        CheckConstraint("seconds_spent >= 0", name="seconds_spent_non_negative"),
        CheckConstraint(
            f"rationale IS NULL OR length(rationale) <= {MAX_RATIONALE_CHARS}",
            name="rationale_length",
        ),
        Index("ix_annotation_prompt", "prompt_id"),
        Index("ix_annotation_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id", ondelete="CASCADE"))
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    # Tie groups of candidate ids, best first: [[3], [1, 4], [2]].
    ranking: Mapped[list[list[int]]] = mapped_column(JSONType)
    # "None of these is acceptable": stored apart from ties, which mean "equally good".
    all_bad: Mapped[bool] = mapped_column(default=False)
    # {candidate_id: [flag kind, ...]}
    flags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # {candidate_id: 1..7}
    ratings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rationale: Mapped[str | None] = mapped_column(Text)
    # Time on the item as the server measured it (issue 20): the lease's hand-out to the
    # submit, at most the lease's length. What signals, exports and the dashboard use.
    seconds_spent: Mapped[float] = mapped_column(default=0.0)
    # The figure the client sent, kept beside it for reference only; NULL: none sent.
    client_seconds_spent: Mapped[float | None]
    # Whether the annotator placed or moved any response before submitting (issue 11):
    # False means they sent the order as shown (after confirming it); NULL means the
    # client did not say (API callers that don't send it, rows stored before the field).
    order_changed: Mapped[bool | None]
    # Whether the page started the annotator from a judge's suggested order (issue 13:
    # an opt-in per judge). Anchoring is a known bias: exports can separate these labels.
    suggestion_shown: Mapped[bool] = mapped_column(default=False, server_default=false())
    idempotency_key: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Comparison(Base):
    """One ordered pair from an annotation whose candidates sit in different tie groups."""

    __tablename__ = "comparison"
    __table_args__ = (
        # Named by hand: the conventional name would pass PostgreSQL's 63-character limit.
        UniqueConstraint(
            "annotation_id",
            "chosen_candidate_id",
            "rejected_candidate_id",
            name="uq_comparison_pair",
        ),
        CheckConstraint("chosen_candidate_id <> rejected_candidate_id", name="distinct_candidates"),
        CheckConstraint("margin >= 1", name="margin_positive"),
        Index("ix_comparison_prompt", "prompt_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    annotation_id: Mapped[int] = mapped_column(ForeignKey("annotation.id", ondelete="CASCADE"))
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id", ondelete="CASCADE"))
    chosen_candidate_id: Mapped[int] = mapped_column(ForeignKey("candidate.id", ondelete="CASCADE"))
    rejected_candidate_id: Mapped[int] = mapped_column(
        ForeignKey("candidate.id", ondelete="CASCADE")
    )
    # Distance between the two tie groups (1 = adjacent).
    margin: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Adjudication(Base):
    """The settled ranking of a prompt still contested at its set's annotators_max (issue
    13), by an admin or an expert. Its own origin, never an annotation: it counts toward
    no seat, agreement or annotator statistic; the consensus export takes it over the vote.
    """

    __tablename__ = "adjudication"
    __table_args__ = (
        UniqueConstraint("prompt_id"),
        CheckConstraint(
            f"note IS NULL OR length(note) <= {MAX_RATIONALE_CHARS}", name="note_length"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id", ondelete="CASCADE"))
    adjudicator_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    # Tie groups of candidate ids, best first, as an annotation's.
    ranking: Mapped[list[list[int]]] = mapped_column(JSONType)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


STANDING_STATES = ("qualifying", "qualified", "failed", "paused")


class AnnotatorStanding(Base):
    """Where an annotator stands in a prompt set's qualification and calibration
    (app.annotation.standing). No row: not started, which counts as "qualifying" when
    the set has a qualification round and as "qualified" otherwise. "failed" and
    "paused" hand out no items; an admin lifting them is recorded here (updated_by, and
    the old reason kept in the new one). Nothing is ever deleted for a failure."""

    __tablename__ = "annotator_standing"
    __table_args__ = (CheckConstraint(f"state IN {STANDING_STATES!r}", name="state_known"),)

    prompt_set_id: Mapped[int] = mapped_column(
        ForeignKey("prompt_set.id", ondelete="CASCADE"), primary_key=True
    )
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16))
    # The numbers behind the state, in words: "3 of 5 gold items agreed, 80% needed".
    reason: Mapped[str] = mapped_column(Text, default="")
    # Gold answers with an annotation id up to this one no longer count: a retried
    # round or a lifted pause starts afresh.
    counts_after_annotation_id: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The admin who last changed it; None: the system (a gold answer decided it).
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
