"""A prompt set's generation settings: validated once, snapshotted into the job.

The prompt set stores a dict shaped by app.prompt_sets.schemas.GenerationSettings;
`resolve_generation_settings` fills defaults from the app Settings and checks every field
with the same model (extended by JobSettings), so a job never starts with settings a
worker would choke on, and the API never accepts settings a job would refuse.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from app.core.config import Settings
from app.generation.errors import InvalidGenerationSettings
from app.prompt_sets.schemas import BACKENDS, GenerationSettings


class JobSettings(GenerationSettings):
    """Everything a worker needs to generate one prompt set's candidates: the set's
    generation settings (same fields, same limits) plus the set's fields they depend on."""

    # Empty until resolved: then the app's default model for the backend.
    model: str = ""
    candidates_per_prompt: int = Field(default=4, ge=1, le=64)
    system_prompt: str = ""

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
) -> JobSettings:
    """Validate a prompt set's generation dict and fill defaults; raise with every problem."""
    data = dict(raw or {})
    data["candidates_per_prompt"] = candidates_per_prompt
    data["system_prompt"] = system_prompt
    try:
        gen = JobSettings.model_validate(data)
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
