"""Judge input and output: the JSON names the API and the admin forms share.

A judge's `settings` are generation settings (backend, model, sampling) checked by the
same code as a prompt set's (app.generation.config), in app.judges.settings.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.core.inputs import Bool, JsonObject, Text
from app.judges.rubric import DEFAULT_RUBRIC, rubric_problems
from app.prompt_sets.generators import NAME_PATTERN

Mode = Literal["listwise", "pairwise"]
MAX_RUBRIC_CHARS = 20_000


def _usable_rubric(value: str | None) -> str | None:
    if value is not None:
        problems = rubric_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
    return value


class JudgeIn(BaseModel):
    """A new judge (its version 1)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(pattern=NAME_PATTERN)
    mode: Mode = "listwise"
    """listwise: one call orders all candidates; pairwise: each pair, in both orders."""
    rubric: Text = Field(default=DEFAULT_RUBRIC, min_length=1, max_length=MAX_RUBRIC_CHARS)
    """The prompt template, with the placeholders {prompt} and {candidates}."""
    settings: JsonObject = Field(default_factory=dict)
    """backend, model, temperature (one), top_p, max_new_tokens, seed, batch_sequences,
    base_url: as a prompt set's generation settings. Unset: temperature 0 (greedy),
    max_new_tokens 64, and the app's default model, stored with the version."""
    suggest_to_annotators: Bool = False
    """Show this judge's order to annotators as their starting order (off by default)."""

    check_rubric = field_validator("rubric")(_usable_rubric)


class JudgeEdit(BaseModel):
    """An edit: the fields given replace the current version's in a new version."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    mode: Mode | None = None
    rubric: Text | None = Field(default=None, min_length=1, max_length=MAX_RUBRIC_CHARS)
    settings: JsonObject | None = None
    suggest_to_annotators: Bool | None = None

    check_rubric = field_validator("rubric")(_usable_rubric)


class JudgeOut(BaseModel):
    id: int
    prompt_set_id: int
    name: str
    version: int
    mode: str
    rubric: str
    settings: dict[str, Any]
    suggest_to_annotators: bool
    is_current: bool
    created_by_id: int | None
    created_at: dt.datetime


class JudgeRankingOut(BaseModel):
    id: int
    judge_id: int
    prompt_id: int
    run_id: int | None
    status: str
    ranking: list[list[int]] | None
    raw_output: str | None
    error: str | None
    pairs_judged: int | None
    position_flips: int | None
    seconds_spent: float
    created_at: dt.datetime
