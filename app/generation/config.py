"""A prompt set's generation settings: validated once, snapshotted into the job.

The prompt set stores a free-form dict ({backend, model, temperature, top_p,
max_new_tokens, ...}); `resolve_generation_settings` fills defaults from the app Settings and
checks every field, so a job never starts with settings a worker would choke on.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.core.config import Settings
from app.generation.errors import InvalidGenerationSettings

BACKENDS = ("transformers", "openai")
MAX_NEW_TOKENS_LIMIT = 4096


class GenerationSettings(BaseModel):
    """Everything a worker needs to generate one prompt set's candidates."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    backend: Literal["transformers", "openai"] = "transformers"
    model: str = ""
    # One value for every candidate, or one per candidate position (cycled).
    temperature: float | list[float] = 0.8
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_new_tokens: int = Field(default=256, ge=1, le=MAX_NEW_TOKENS_LIMIT)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    """Base seed: candidate seeds derive from it, the prompt id and the position."""
    max_duplicate_retries: int = Field(default=2, ge=0, le=10)
    batch_sequences: int = Field(default=32, ge=1, le=512)
    """Sequences (prompts x candidates) per forward pass of the transformers backend."""
    base_url: str = ""
    candidates_per_prompt: int = Field(default=4, ge=1, le=64)
    system_prompt: str = ""

    @field_validator("temperature")
    @classmethod
    def _temperature_range(cls, value: float | list[float]) -> float | list[float]:
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError("give at least one temperature")
        for t in values:
            if not 0 <= t <= 2:
                raise ValueError(f"temperature {t} is outside 0..2")
        return value

    def temperature_for(self, position: int) -> float:
        if isinstance(self.temperature, list):
            return self.temperature[position % len(self.temperature)]
        return self.temperature

    def seed_for(self, prompt_id: int, position: int, retry: int = 0) -> int:
        """Distinct per prompt, position and duplicate retry; stable across restarts."""
        return (self.seed + prompt_id * 1_000_003 + position * 7_919 + retry * 104_729) % 2**31

    def sampling_for(self, position: int) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "temperature": self.temperature_for(position),
            "top_p": self.top_p,
            "max_new_tokens": self.max_new_tokens,
        }


def _describe(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        value = err.get("input")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown setting {field!r}"
        elif err["type"] == "literal_error":
            msg = f"unknown backend {value!r}; use one of: {', '.join(BACKENDS)}"
        out.append({"field": f"generation.{field}", "message": msg})
    return out


def resolve_generation_settings(
    raw: dict[str, Any] | None,
    app_settings: Settings,
    *,
    candidates_per_prompt: int,
    system_prompt: str = "",
) -> GenerationSettings:
    """Validate a prompt set's generation dict and fill defaults; raise with every problem."""
    data = dict(raw or {})
    data["candidates_per_prompt"] = candidates_per_prompt
    data["system_prompt"] = system_prompt
    try:
        gen = GenerationSettings.model_validate(data)
    except ValidationError as exc:
        errors = _describe(exc)
        first = errors[0]
        raise InvalidGenerationSettings(
            f"{first['field']}: {first['message']}", errors=errors
        ) from None
    if gen.backend == "transformers":
        gen.model = gen.model or app_settings.default_model
        _check_local_model(gen.model)
    else:
        gen.base_url = (gen.base_url or app_settings.openai_base_url).rstrip("/")
        gen.model = gen.model or app_settings.openai_model
        if not gen.base_url.startswith(("http://", "https://")):
            raise InvalidGenerationSettings(
                "generation.base_url: the openai backend needs an http(s) base URL "
                f"(RANKLAB_OPENAI_BASE_URL), got {gen.base_url!r}",
                errors=[{"field": "generation.base_url", "message": "http(s) URL required"}],
            )
        if not gen.model:
            raise InvalidGenerationSettings(
                "generation.model: the openai backend needs a model name "
                "(or set RANKLAB_OPENAI_MODEL)",
                errors=[{"field": "generation.model", "message": "model name required"}],
            )
    return gen


def _check_local_model(model: str) -> None:
    """Fail at job creation, not in the worker, when the model file or folder is missing."""
    from app.generation.model_files import ModelNotFound, resolve_model

    try:
        resolve_model(model)
    except ModelNotFound as exc:
        raise InvalidGenerationSettings(
            f"generation.model: {exc.message}",
            errors=[{"field": "generation.model", "message": exc.message}],
        ) from None
