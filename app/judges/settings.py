"""A judge's model settings: a prompt set's generation settings, judge defaults, one check.

Validated by the same code as generation (app.generation.config.resolve_generation_settings:
same fields, same limits, the model file or server checked up front), with errors naming
`settings.<field>`. A judge samples once per call, so it takes one temperature, and it
defaults to greedy decoding with a short answer.
"""

from __future__ import annotations

from typing import Any

from app.core.config import Settings
from app.generation.config import JobSettings, resolve_generation_settings
from app.generation.errors import InvalidGenerationSettings
from app.judges.errors import InvalidJudge
from app.prompt_sets.schemas import GenerationSettings

JUDGE_DEFAULTS: dict[str, Any] = {"temperature": 0.0, "max_new_tokens": 64}


def _invalid(errors: list[dict[str, Any]]) -> InvalidJudge:
    first = errors[0]
    return InvalidJudge(f"{first['field']}: {first['message']}", errors=errors)


def _as_judge_errors(exc: InvalidGenerationSettings) -> InvalidJudge:
    return _invalid(
        [
            {**e, "field": "settings." + str(e.get("field", "")).removeprefix("generation.")}
            for e in exc.errors or [{"field": "", "message": exc.message}]
        ]
    )


def resolve_judge_settings(raw: dict[str, Any], app_settings: Settings) -> JobSettings:
    """The settings a worker runs with: defaults filled from the judge's and the app's;
    InvalidJudge (422) naming each bad `settings.<field>`."""
    data = {**JUDGE_DEFAULTS, **raw}
    if isinstance(data.get("temperature"), list):
        raise _invalid(
            [{"field": "settings.temperature", "message": "a judge takes one temperature"}]
        )
    try:
        return resolve_generation_settings(data, app_settings, candidates_per_prompt=1)
    except InvalidGenerationSettings as exc:
        raise _as_judge_errors(exc) from None


def checked_settings(raw: dict[str, Any], app_settings: Settings) -> dict[str, Any]:
    """The settings as stored on a judge version, after the full check: the fields given,
    the judge defaults, and the model pinned. A version without an explicit model gets
    the one it resolves to now (RANKLAB_DEFAULT_MODEL, RANKLAB_OPENAI_MODEL), so changing
    those later cannot make one version's rankings come from two models (issue 20,
    item 12)."""
    resolved = resolve_judge_settings(raw, app_settings)  # refuses what the next would
    given = GenerationSettings.model_validate({**JUDGE_DEFAULTS, **raw})
    return {**given.model_dump(include=given.model_fields_set), "model": resolved.model}


def pinned_settings(stored: dict[str, Any], app_settings: Settings) -> dict[str, Any]:
    """A version's settings for its next version: as stored when they name a model (a
    version made before models were pinned gets the one it resolves to now)."""
    return stored if stored.get("model") else checked_settings(stored, app_settings)
