"""Export options: one validated object shared by the API, the research page and the CLI."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.annotation.models import FLAG_KINDS

FORMATS = ("pairs", "conversational", "rankings", "unpaired", "consensus")
FILE_TYPES = ("jsonl", "parquet", "csv")
ExportFormat = Literal["pairs", "conversational", "rankings", "unpaired", "consensus"]
# Formats whose prompt is rendered with a chat template into one string.
RENDERED_FORMATS = ("pairs", "unpaired", "consensus")


class ExportOptions(BaseModel):
    """Everything that decides which rows an export holds and how they are written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: ExportFormat
    prompt_set_ids: tuple[int, ...] = Field(min_length=1, max_length=100)
    file_type: Literal["jsonl", "parquet", "csv"] = "jsonl"
    columns: Literal["all", "core"] = "all"
    split: Literal["train", "test", "all"] = "all"
    test_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    # Resolved user ids (the request names annotators by pseudonym or username).
    annotator_ids: tuple[int, ...] = ()
    min_agreement: float | None = Field(default=None, ge=0.0, le=1.0)
    exclude_flags: tuple[str, ...] = ()
    exclude_gold: bool = False
    ties: Literal["drop", "both"] = "drop"
    dedupe: bool = False
    include_all_bad: bool = False
    include_no_majority: bool = False
    margin: bool = False
    tokenizer: str = Field(default="", max_length=500)
    bundle: bool = False
    # Add chosen_score, rejected_score and reward_model_id: each set's active reward model's
    # scores (pairs, conversational, consensus; empty where a set has no active version).
    scores: bool = False

    @field_validator("created_after", "created_before")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value

    @field_validator("exclude_flags")
    @classmethod
    def _known_flags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for kind in value:
            if kind != "any" and kind not in FLAG_KINDS:
                known = ", ".join(("any", *FLAG_KINDS))
                raise ValueError(f"unknown flag kind {kind!r}; use one of {known}")
        return value

    @model_validator(mode="after")
    def _dates_in_order(self) -> ExportOptions:
        if self.created_after and self.created_before and self.created_after >= self.created_before:
            raise ValueError("created_after must be earlier than created_before")
        return self

    def filters_summary(self) -> dict[str, object]:
        """The options that filter rows, for the dataset card."""
        return self.model_dump(
            mode="json",
            exclude={"format", "file_type", "bundle", "prompt_set_ids", "annotator_ids"},
        ) | {"annotators": len(self.annotator_ids) or "all"}

    def flag_excluded(self, kinds: list[str] | tuple[str, ...]) -> bool:
        if not self.exclude_flags or not kinds:
            return False
        return "any" in self.exclude_flags or any(k in self.exclude_flags for k in kinds)
