"""Reward-model input and output: training options, routing, and the version as JSON."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.prompt_sets.models import Routing
from app.reward.errors import InvalidRewardOptions


class TrainOptions(BaseModel):
    """How a version is trained. Fields not used by a kind are ignored by it."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    kind: Literal["fast", "full"] = "fast"
    backbone: str = Field(default="smollm2", min_length=1, max_length=500)
    """`smollm2` (the bundled GGUF), a local model folder, a .gguf path or a cached Hub id."""
    # -- the pairs (the export's rules: pairs format, all-bad annotations left out) -------
    test_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
    """Share of prompts held out by the export's stable hash split (same as export)."""
    ties: Literal["drop", "half"] = "drop"
    """drop: tied candidates carry no order. half: each tie counts as half a win each way."""
    # -- fast: frozen backbone + Bradley-Terry head ---------------------------------------
    pooling: Literal["last", "mean"] = "last"
    max_length: int = Field(default=512, ge=16, le=8192)
    """Tokens read per (prompt, candidate); a longer input keeps its end: the prompt
    loses its start, the candidate stays whole."""
    batch_size: int = Field(default=16, ge=1, le=512)
    validation_fraction: float = Field(default=0.15, gt=0.0, lt=1.0)
    """Share of training prompts used to choose the regularisation C."""
    ensemble: int = Field(default=4, ge=1, le=32)
    """Bootstrap heads whose spread is the score's uncertainty."""
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    # -- full: TRL RewardTrainer ----------------------------------------------------------
    epochs: float = Field(default=1.0, gt=0, le=20)
    max_steps: int = Field(default=-1, ge=-1, le=1_000_000)
    """Stop after this many optimizer steps (-1: run the epochs)."""
    learning_rate: float = Field(default=1e-5, gt=0, le=1)
    lora: bool = False
    lora_r: int = Field(default=8, ge=1, le=256)


class TrainRequest(TrainOptions):
    wait: bool = False


class RoutingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routing: Routing
    retrain_every: int = Field(default=0, ge=0, le=1_000_000)
    """Queue a fast retrain after this many new annotations (0: off)."""


def parse_options(data: dict[str, Any]) -> TrainOptions:
    """Validate training options; 422 naming each bad field."""
    try:
        return TrainOptions.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or None
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = f"unknown option {field!r}"
            errors.append({"field": field, "message": message})
        first = errors[0]
        raise InvalidRewardOptions(f"{first['field']}: {first['message']}", errors=errors) from exc


class RewardModelOut(BaseModel):
    id: int
    prompt_set_id: int
    kind: str
    backbone: str
    status: str
    is_active: bool
    progress: float
    progress_message: str
    error: str | None
    options: dict[str, Any]
    training_data: dict[str, Any]
    metrics: dict[str, Any]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    download_url: str | None = None
