"""Export options: one validated object shared by the API, the research page and the CLI."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from app.annotation.models import FLAG_KINDS
from app.core.inputs import Number, Text

ExportFormat = Literal["pairs", "conversational", "rankings", "unpaired", "consensus"]
FileType = Literal["jsonl", "parquet", "csv"]
ConsensusMethod = Literal["majority", "reliability"]
CONSENSUS_METHODS: tuple[str, ...] = get_args(ConsensusMethod)
FORMATS: tuple[str, ...] = get_args(ExportFormat)
FILE_TYPES: tuple[str, ...] = get_args(FileType)
# Formats whose prompt is rendered with a chat template into one string.
RENDERED_FORMATS = ("pairs", "unpaired", "consensus")


def _as_list(value: Any) -> list[str]:
    """Repeated query parameters or comma-separated values, as a flat list of strings."""
    items = value if isinstance(value, list | tuple) else [value]
    return [
        part.strip()
        for item in items
        if item is not None
        for part in str(item).split(",")
        if part.strip()
    ]


class ExportChoices(BaseModel):
    """The options every export takes: the one option list. ExportQuery (what a request
    sends) and ExportOptions (what an export runs with) both extend it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file_type: FileType = "jsonl"
    columns: Literal["all", "core"] = "all"
    split: Literal["train", "test", "all"] = "all"
    test_fraction: Number = Field(default=0.1, ge=0.0, lt=1.0)
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    min_agreement: Number | None = Field(default=None, ge=0.0, le=1.0)
    exclude_flags: tuple[Text, ...] = ()
    """Leave out candidates flagged with these kinds ("any" for every kind)."""
    exclude_gold: bool = False
    exclude_flagged_annotators: bool = False
    """Leave out every annotation of annotators that a bias or spam signal flags on the
    exported sets (app.analytics.signals; the people pages show why)."""
    ties: Literal["drop", "both"] = "drop"
    dedupe: bool = False
    include_all_bad: bool = False
    include_no_majority: bool = False
    consensus_method: ConsensusMethod = "majority"
    """How the consensus format picks each pair's winner: the plurality of votes, or the
    vote weighted by each annotator's estimated reliability (app/analytics/reliability.py)."""
    margin: bool = False
    tokenizer: Text = Field(default="", max_length=500)
    """Model whose chat template renders prompts (default: the set's generation model)."""
    bundle: bool = False
    # Add chosen_score, rejected_score and reward_model_id: each set's active reward model's
    # scores (pairs, conversational, consensus; empty where a set has no active version).
    scores: bool = False
    origin: Literal["human", "judge", "all"] = "human"
    """Whose rankings: people (the default), LLM judges, or both (issue 13)."""
    judge_versions: Literal["current", "all"] = "current"
    """With judge rows: each judge's current version only, or every version it had."""
    exclude_suggestion_shown: bool = False
    """Leave out annotations made after a judge's suggested order was shown (anchoring)."""

    @model_validator(mode="before")
    @classmethod
    def _blank_is_default(cls, data: Any) -> Any:
        # An empty form field or `?split=` means "the default", as if it were not sent.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None and v != ""}
        return data

    @field_validator("exclude_flags", mode="before")
    @classmethod
    def _flag_list(cls, value: Any) -> list[str]:
        return _as_list(value)

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
                raise PydanticCustomError(
                    "unknown_flag",
                    "unknown flag kind {kind}; use one of {known}",
                    {"kind": repr(kind), "known": known},
                )
        return value

    @model_validator(mode="after")
    def _dates_in_order(self) -> ExportChoices:
        if self.created_after and self.created_before and self.created_after >= self.created_before:
            raise PydanticCustomError(
                "dates_out_of_order", "created_after must be earlier than created_before"
            )
        return self


class ExportQuery(ExportChoices):
    """The export options as a request names them: the API's query string (a FastAPI query
    model), the research page's form and the CLI's flags. Prompt sets and annotators are
    names (or ids, or pseudonyms), resolved into ExportOptions by the export service."""

    prompt_set: list[Text] = []
    """Prompt set ids or names (repeat the parameter, or separate with commas)."""
    annotators: list[Text] = []
    """Annotator pseudonyms (as in exports) or usernames; default: everyone."""

    @field_validator("prompt_set", "annotators", mode="before")
    @classmethod
    def _names(cls, value: Any) -> list[str]:
        return _as_list(value)


# Options a query string may repeat (?prompt_set=1&prompt_set=2).
LIST_OPTIONS = tuple(
    name
    for name, f in ExportQuery.model_fields.items()
    if get_origin(f.annotation) in (list, tuple)
)


def raw_options(params: Any) -> dict[str, Any]:
    """A query string (any multi-dict with getlist) as raw options: repeatable options keep
    every value, the others their last one."""
    return {k: params.getlist(k) if k in LIST_OPTIONS else params.get(k) for k in params}


class ExportOptions(ExportChoices):
    """Everything that decides which rows an export holds and how they are written."""

    format: ExportFormat
    prompt_set_ids: tuple[int, ...] = Field(min_length=1, max_length=100)
    # Resolved user ids (the request names annotators by pseudonym or username).
    annotator_ids: tuple[int, ...] = ()
    # Annotators flagged on these sets, computed once when the export is planned
    # (exclude_flagged_annotators); never named in the output, only counted.
    excluded_annotator_ids: tuple[int, ...] = ()

    def filters_summary(self) -> dict[str, object]:
        """The options that filter rows, for the dataset card."""
        return self.model_dump(
            mode="json",
            exclude={
                "format",
                "file_type",
                "bundle",
                "prompt_set_ids",
                "annotator_ids",
                "excluded_annotator_ids",
            },
        ) | {"annotators": len(self.annotator_ids) or "all"}

    def flag_excluded(self, kinds: list[str] | tuple[str, ...]) -> bool:
        if not self.exclude_flags or not kinds:
            return False
        return "any" in self.exclude_flags or any(k in self.exclude_flags for k in kinds)
