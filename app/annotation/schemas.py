"""JSON bodies of the annotation API (limits on shape; the rules live in the services)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.annotation.submission import SubmissionInput


class SubmissionIn(BaseModel):
    assignment_id: int
    # Tie groups of candidate ids, best first. Checked by app.prompt_sets.ranking, which
    # names the exact problem (missing, repeated, foreign id, empty group).
    ranking: list[Any] = Field(max_length=64)
    all_bad: bool = False
    flags: dict[str, Any] = Field(default_factory=dict)
    ratings: dict[str, Any] = Field(default_factory=dict)
    rationale: str | None = None
    seconds_spent: float | None = None
    # Did the annotator place or move any response? Stored as sent; null: not said.
    order_changed: bool | None = None
    idempotency_key: str | None = None

    def to_input(self) -> SubmissionInput:
        return SubmissionInput(**self.model_dump())


class SkipIn(BaseModel):
    reason: str
