"""Prompt sets, their prompts, and the candidate answers to rank."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Literal, get_args

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, JSONType, NullableJSONType, utcnow

PROMPT_SET_STATUSES = ("active", "paused", "archived")
PROMPT_STATUSES = ("active", "archived")
MIN_CANDIDATES, MAX_CANDIDATES = 2, 8
# The order the claim hands out a set's prompts (app.annotation.assignment, app.reward.routing).
Routing = Literal["in_order", "random", "uncertain_first"]
ROUTINGS: tuple[str, ...] = get_args(Routing)
# Qualification and calibration limits (app.annotation.standing applies them).
MAX_QUALIFICATION_ITEMS, MAX_GOLD_WINDOW = 100, 1000


class PromptSet(Base):
    __tablename__ = "prompt_set"
    __table_args__ = (
        CheckConstraint(f"status IN {PROMPT_SET_STATUSES!r}", name="status_known"),
        CheckConstraint(
            f"candidates_per_prompt BETWEEN {MIN_CANDIDATES} AND {MAX_CANDIDATES}",
            name="candidates_per_prompt_range",
        ),
        CheckConstraint(
            "annotators_per_prompt BETWEEN 1 AND 100", name="annotators_per_prompt_range"
        ),
        CheckConstraint("lease_seconds >= 30", name="lease_seconds_min"),
        CheckConstraint("length(name) BETWEEN 1 AND 200", name="name_length"),
        CheckConstraint(f"routing IN {ROUTINGS!r}", name="routing_known"),
        CheckConstraint("retrain_every >= 0", name="retrain_every_non_negative"),
        CheckConstraint(
            "annotators_max IS NULL OR annotators_max BETWEEN annotators_per_prompt AND 100",
            name="annotators_max_range",
        ),
        CheckConstraint("escalate_below_tau BETWEEN -1 AND 1", name="escalate_below_tau_range"),
        CheckConstraint(
            f"qualification_items BETWEEN 0 AND {MAX_QUALIFICATION_ITEMS}",
            name="qualification_items_range",
        ),
        CheckConstraint(
            "qualification_min_agreement BETWEEN 0 AND 1", name="qualification_min_agreement_range"
        ),
        CheckConstraint(
            "gold_pause_below IS NULL OR gold_pause_below BETWEEN 0 AND 1",
            name="gold_pause_below_range",
        ),
        CheckConstraint(f"gold_window BETWEEN 1 AND {MAX_GOLD_WINDOW}", name="gold_window_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    guidelines: Mapped[str] = mapped_column(Text, default="")  # markdown
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    # {backend, model, temperature (float or list per candidate), top_p, max_new_tokens}
    generation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Named generators sharing the candidates (app.prompt_sets.generators); [] = one, "default".
    generators: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    candidates_per_prompt: Mapped[int] = mapped_column(default=4)
    annotators_per_prompt: Mapped[int] = mapped_column(default=3)
    # More annotators where they disagree (issue 13): up to `annotators_max` seats for a
    # prompt whose rankings are contested (app.annotation.disagreement says when). NULL,
    # or equal to k: off. Each escalation adds one seat (Prompt.extra_seats).
    annotators_max: Mapped[int | None] = mapped_column(default=None)
    escalate_below_tau: Mapped[float] = mapped_column(default=0.5, server_default="0.5")
    escalate_on_split_top: Mapped[bool] = mapped_column(default=True, server_default=true())
    lease_seconds: Mapped[int] = mapped_column(default=1800)
    require_rationale: Mapped[bool] = mapped_column(default=False)
    require_ratings: Mapped[bool] = mapped_column(default=False)
    # The ranking page asks "submit the order as shown?" before sending a ranking the
    # annotator never touched (issue 11); off for sets whose shown order is meaningful.
    confirm_untouched_order: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # How prompts are handed out; every routing orders the claim by Prompt.priority.
    routing: Mapped[str] = mapped_column(String(16), default="in_order", server_default="in_order")
    # Retrain the fast reward model after this many new annotations (0: only by hand).
    retrain_every: Mapped[int] = mapped_column(default=0, server_default="0")
    # Qualification (app.annotation.standing): a new annotator's first N items are gold
    # (0: no round) and they pass with at least this share of gold items agreed (0..1).
    qualification_items: Mapped[int] = mapped_column(default=0, server_default="0")
    qualification_min_agreement: Mapped[float] = mapped_column(default=0.8, server_default="0.8")
    # Calibration: pause an annotator whose share of agreed items among their last
    # `gold_window` gold answers falls below this (0..1); None: never pause.
    gold_pause_below: Mapped[float | None]
    gold_window: Mapped[int] = mapped_column(default=10, server_default="10")
    # The secret that places and orders each annotator's gold items (issue 20:
    # app.annotation.gold_pacing). Written once, never shown: with it, gold turns are
    # unpredictable from outside yet the same in every app process.
    gold_seed: Mapped[str] = mapped_column(String(32), default=lambda: secrets.token_hex(16))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Prompt(Base):
    __tablename__ = "prompt"
    __table_args__ = (
        UniqueConstraint("prompt_set_id", "content_hash"),
        UniqueConstraint("prompt_set_id", "external_id"),
        CheckConstraint(f"status IN {PROMPT_STATUSES!r}", name="status_known"),
        # A prompt is either plain text or a list of chat messages, never both or neither.
        CheckConstraint("(text IS NULL) <> (messages IS NULL)", name="text_xor_messages"),
        CheckConstraint("length(content_hash) = 64", name="content_hash_sha256"),
        Index("ix_prompt_set_status", "prompt_set_id", "status"),
        # The claim walks a set's prompts in (priority, id) order: one index scan.
        Index("ix_prompt_claim_order", "prompt_set_id", "priority", "id"),
        CheckConstraint("extra_seats >= 0", name="extra_seats_non_negative"),
        # The adjudication queue (issue 22): a set's prompts with escalation seats, one
        # range scan (app.annotation.adjudication).
        Index("ix_prompt_escalated", "prompt_set_id", "extra_seats"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_set_id: Mapped[int] = mapped_column(ForeignKey("prompt_set.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str | None] = mapped_column(Text)
    # [{"role": "system"|"user"|"assistant", "content": str}, ...] ending with a user turn
    messages: Mapped[list[dict[str, Any]] | None] = mapped_column(NullableJSONType)
    # "metadata" is reserved on declarative classes, hence the attribute name.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    # True once every candidate is stored (set in the same transaction that writes them):
    # only ready prompts are handed to annotators.
    candidates_ready: Mapped[bool] = mapped_column(default=False)
    is_gold: Mapped[bool] = mapped_column(default=False)
    # Known correct ranking for gold items, as tie groups of candidate ids.
    gold_ranking: Mapped[list[list[int]] | None] = mapped_column(NullableJSONType)
    # Hand-out order within the set, lowest first (ties by id). 0 for every prompt under
    # `in_order` and for prompts no reward model has scored yet; app.reward.routing writes
    # it for `random` and `uncertain_first` whenever scores change.
    priority: Mapped[int] = mapped_column(default=0, server_default="0")
    # Seats added by escalation (issue 13): the prompt's seat target is the set's k plus
    # these, never above the set's annotators_max (the settings change clamps it).
    extra_seats: Mapped[int] = mapped_column(default=0, server_default="0")
    # The people's rankings of the prompt as the submit path last measured them (issue 22;
    # kept by app.annotation.tallies in the submit transaction): how many, their mean
    # Kendall tau-b (None under two) and whether the top choice is split. The adjudication
    # queue filters on them; judge figures are stale where `human_rankings` moved on.
    human_rankings: Mapped[int] = mapped_column(default=0, server_default="0")
    human_mean_tau: Mapped[float | None]
    human_top_split: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Candidate(Base):
    __tablename__ = "candidate"
    __table_args__ = (
        UniqueConstraint("prompt_id", "position"),
        CheckConstraint("position >= 0 AND position < 64", name="position_range"),
        CheckConstraint("source IN ('generated', 'imported')", name="source_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompt.id", ondelete="CASCADE"))
    # 0-based candidate number within the prompt ("index" is an SQL keyword).
    position: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(16), default="generated")
    # {temperature, top_p, max_new_tokens, backend}
    sampling: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed: Mapped[int | None]
    prompt_tokens: Mapped[int | None]
    completion_tokens: Mapped[int | None]
    latency_ms: Mapped[float | None]
    # The prompt set generator that made it ("" for imported candidates). Never shown to
    # annotators, like `model`.
    generator: Mapped[str] = mapped_column(String(64), default="")
    # A pipeline's intermediate messages: [{"agent", "role", "text"}...]; None for a model.
    transcript: Mapped[list[dict[str, Any]] | None] = mapped_column(NullableJSONType)
    # Kept after the bounded number of regenerations still produced an exact duplicate.
    is_duplicate: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
