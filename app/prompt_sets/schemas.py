"""Prompt-set input and output: the JSON names scripts and the browser forms share."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.core.inputs import Bool, Id, Number, Text, WholeNumber
from app.prompt_sets.models import (
    MAX_CANDIDATES,
    MAX_GOLD_WINDOW,
    MAX_QUALIFICATION_ITEMS,
    MIN_CANDIDATES,
)

BACKENDS = ("transformers", "openai")
# The worker's limit: longer answers would not fit the bundled model's context anyway.
MAX_NEW_TOKENS_LIMIT = 4096
# The settings the admin form shows; a stored set always has these keys.
FORM_FIELDS = ("backend", "model", "temperature", "top_p", "max_new_tokens")
Temperature = Number | list[Number]


class GenerationSettings(BaseModel):
    """How candidates are generated; stored as PromptSet.generation.

    The one schema for these settings: the API and the forms validate with it, and the
    worker's job snapshot (app.generation.config.JobSettings) extends it, so both accept
    the same fields within the same limits.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    backend: Literal["transformers", "openai"] = "transformers"
    model: Text = Field(default="smollm2", min_length=1, max_length=500)
    # One temperature for every candidate, or one per candidate position.
    temperature: Temperature = 0.8
    top_p: Number = Field(default=0.95, gt=0, le=1)
    max_new_tokens: WholeNumber = Field(default=256, ge=1, le=MAX_NEW_TOKENS_LIMIT)
    seed: WholeNumber = Field(default=0, ge=0, le=2**31 - 1)
    """Base seed: candidate seeds derive from it, the prompt id and the position."""
    max_duplicate_retries: WholeNumber = Field(default=2, ge=0, le=10)
    batch_sequences: WholeNumber = Field(default=32, ge=1, le=512)
    """Sequences (prompts x candidates) per forward pass of the transformers backend."""
    base_url: Text = Field(default="", max_length=2000)
    """The openai backend's server; empty means RANKLAB_OPENAI_BASE_URL."""

    @field_validator("temperature")
    @classmethod
    def _temperatures_in_range(cls, value: Temperature) -> Temperature:
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError("give at least one temperature")
        for t in values:
            if not 0 <= t <= 2:
                raise ValueError(f"temperature {t} is outside 0..2")
        return value

    def to_stored(self) -> dict[str, Any]:
        """The dict kept on the prompt set: the form's fields always, the others when given."""
        return self.model_dump(include=set(FORM_FIELDS) | self.model_fields_set)


class PromptSetFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Text = Field(min_length=1, max_length=200)
    description: Text = Field(default="", max_length=5000)
    guidelines: Text = Field(default="", max_length=100_000)
    system_prompt: Text = Field(default="", max_length=20_000)
    candidates_per_prompt: WholeNumber = Field(default=4, ge=MIN_CANDIDATES, le=MAX_CANDIDATES)
    annotators_per_prompt: WholeNumber = Field(default=3, ge=1, le=100)
    # More annotators where they disagree (app.annotation.disagreement): None or k is off;
    # at least k (checked with k by the service, which knows both on a patch).
    annotators_max: WholeNumber | None = Field(default=None, ge=1, le=100)
    escalate_below_tau: Number = Field(default=0.5, ge=-1, le=1)
    escalate_on_split_top: Bool = True
    lease_seconds: WholeNumber = Field(default=1800, ge=30, le=7 * 24 * 3600)
    require_rationale: Bool = False
    require_ratings: Bool = False
    confirm_untouched_order: Bool = True
    # Qualification and calibration (app.annotation.standing); shares are 0..1, not %.
    qualification_items: WholeNumber = Field(default=0, ge=0, le=MAX_QUALIFICATION_ITEMS)
    qualification_min_agreement: Number = Field(default=0.8, ge=0, le=1)
    gold_pause_below: Number | None = Field(default=None, ge=0, le=1)
    gold_window: WholeNumber = Field(default=10, ge=1, le=MAX_GOLD_WINDOW)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    # Named generators, checked by app.prompt_sets.generators (names, settings, pipeline
    # wiring); None: one generator, "default", made of `generation`.
    generators: list[dict[str, Any]] | None = Field(default=None, max_length=16)


class PromptSetCreate(PromptSetFields):
    pass


class PromptSetPatch(BaseModel):
    """Every field optional; `status` pauses, resumes or archives the set.

    `regenerate`: when the generation settings change after candidates exist, also start
    a job regenerating the candidates of prompts that have no annotations yet.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Text | None = Field(default=None, min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=5000)
    guidelines: Text | None = Field(default=None, max_length=100_000)
    system_prompt: Text | None = Field(default=None, max_length=20_000)
    candidates_per_prompt: WholeNumber | None = Field(
        default=None, ge=MIN_CANDIDATES, le=MAX_CANDIDATES
    )
    annotators_per_prompt: WholeNumber | None = Field(default=None, ge=1, le=100)
    # An explicit null turns escalation off (the one nullable setting here).
    annotators_max: WholeNumber | None = Field(default=None, ge=1, le=100)
    escalate_below_tau: Number | None = Field(default=None, ge=-1, le=1)
    escalate_on_split_top: Bool | None = None
    lease_seconds: WholeNumber | None = Field(default=None, ge=30, le=7 * 24 * 3600)
    require_rationale: Bool | None = None
    require_ratings: Bool | None = None
    confirm_untouched_order: Bool | None = None
    qualification_items: WholeNumber | None = Field(default=None, ge=0, le=MAX_QUALIFICATION_ITEMS)
    qualification_min_agreement: Number | None = Field(default=None, ge=0, le=1)
    # An explicit null turns pausing off (the one setting where null means "clear it").
    gold_pause_below: Number | None = Field(default=None, ge=0, le=1)
    gold_window: WholeNumber | None = Field(default=None, ge=1, le=MAX_GOLD_WINDOW)
    generation: GenerationSettings | None = None
    generators: list[dict[str, Any]] | None = Field(default=None, max_length=16)
    status: Literal["active", "paused", "archived"] | None = None
    regenerate: Bool = False


class PromptSetOut(BaseModel):
    id: int
    name: str
    description: str
    guidelines: str
    system_prompt: str
    candidates_per_prompt: int
    annotators_per_prompt: int
    annotators_max: int | None
    escalate_below_tau: float
    escalate_on_split_top: bool
    lease_seconds: int
    require_rationale: bool
    require_ratings: bool
    confirm_untouched_order: bool
    qualification_items: int = 0
    qualification_min_agreement: float = 0.8
    gold_pause_below: float | None = None
    gold_window: int = 10
    generation: dict[str, Any]
    generators: list[dict[str, Any]] = []
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    prompts: int = 0
    # Set on PATCH when a regeneration job was started.
    regeneration_job_id: int | None = None


class ImportOut(BaseModel):
    imported: int
    skipped_duplicates: int
    candidates: int


class GoldIn(BaseModel):
    """Either a full known ranking (tie groups of candidate ids) or just the best candidate."""

    model_config = ConfigDict(extra="forbid")

    # Bounded like a submission's ranking: no more groups, nor ids, than a prompt can
    # have candidates (validate_ranking then names each wrong id).
    ranking: list[Annotated[list[Id], Field(max_length=MAX_CANDIDATES)]] | None = Field(
        default=None, max_length=MAX_CANDIDATES
    )
    best_candidate_id: Id | None = None


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors in our error shape, with dotted field names (generation.top_p)."""
    out = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        out.append({"field": loc or None, "message": message})
    return out
