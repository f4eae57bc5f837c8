"""JSON bodies of the annotation API (limits on shape; the rules live in the services)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from app.annotation.submission import SubmissionInput
from app.core.inputs import Bool, Id, JsonObject, Number, Text
from app.prompt_sets.models import MAX_CANDIDATES


class SubmissionIn(BaseModel):
    assignment_id: Id
    # Tie groups of candidate ids, best first. Checked by app.prompt_sets.ranking, which
    # names the exact problem (missing, repeated, foreign id, empty group).
    # Bounded here by the most candidates any prompt has, so a huge tie group gets a short
    # 422 (not one error per id); the service bounds it again by the prompt's own count.
    ranking: list[Any] = Field(max_length=MAX_CANDIDATES)
    all_bad: Bool = False
    flags: JsonObject = Field(default_factory=dict)
    ratings: JsonObject = Field(default_factory=dict)
    rationale: Text | None = None
    # The client's timing, kept beside the server's own measure (which is what counts).
    seconds_spent: Number | None = None
    # Did the annotator place or move any response? Stored as sent; null: not said.
    order_changed: Bool | None = None
    idempotency_key: Text | None = None

    @field_validator("ranking")
    @classmethod
    def _few_ids(cls, ranking: list[Any]) -> list[Any]:
        ids = sum(len(group) if isinstance(group, list) else 1 for group in ranking)
        if ids > MAX_CANDIDATES:
            raise ValueError(
                f"has {ids} candidate ids; a prompt has at most {MAX_CANDIDATES} responses"
            )
        return ranking

    def to_input(self) -> SubmissionInput:
        return SubmissionInput(**self.model_dump())


class SkipIn(BaseModel):
    reason: Text
