"""Generation settings validation and the duplicate rule: pure, no database or model."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import Settings
from app.generation.backends import GeneratedText
from app.generation.config import JobSettings, resolve_generation_settings
from app.generation.dedupe import duplicate_positions
from app.generation.errors import InvalidGenerationSettings

APP = Settings(data_dir=Path("/tmp/ranklab-unit"), secret_key="x" * 48)


@pytest.mark.parametrize(
    ("generation", "field", "message"),
    [
        ({"backend": "llamas"}, "generation.backend", "unknown backend 'llamas'"),
        ({"max_new_tokens": 0}, "generation.max_new_tokens", "greater than or equal to 1"),
        ({"max_new_tokens": 100_000}, "generation.max_new_tokens", "less than or equal to 4096"),
        ({"temperature": 3.5}, "generation.temperature", "temperature 3.5 is outside 0..2"),
        ({"top_p": 0}, "generation.top_p", "greater than 0"),
        ({"colour": "blue"}, "generation.colour", "unknown setting 'colour'"),
        ({"model": "/nowhere/model.gguf"}, "generation.model", "does not exist"),
        ({"backend": "openai", "model": "m"}, "generation.base_url", "http(s) base URL"),
        ({"backend": "openai", "base_url": "http://x"}, "generation.model", "needs a model"),
    ],
)
def test_bad_generation_settings_name_the_field(generation, field, message) -> None:
    with pytest.raises(InvalidGenerationSettings) as caught:
        resolve_generation_settings(generation, APP, candidates_per_prompt=4)
    assert caught.value.message.startswith(field)
    assert message in caught.value.message
    assert caught.value.status == 422


def test_defaults_fill_from_app_settings() -> None:
    gen = resolve_generation_settings({}, APP, candidates_per_prompt=3, system_prompt="Be kind.")
    assert (gen.backend, gen.model, gen.candidates_per_prompt) == ("transformers", "smollm2", 3)
    assert gen.system_prompt == "Be kind."
    openai = resolve_generation_settings(
        {"backend": "openai"},
        APP.model_copy(update={"openai_base_url": "http://h:1/v1/", "openai_model": "m"}),
        candidates_per_prompt=2,
    )
    assert (openai.base_url, openai.model) == ("http://h:1/v1", "m")


def test_seeds_differ_per_prompt_position_and_retry() -> None:
    gen = JobSettings(seed=7)
    seeds = {gen.seed_for(p, pos, r) for p in range(5) for pos in range(8) for r in range(3)}
    assert len(seeds) == 5 * 8 * 3


def test_temperature_list_cycles_over_positions() -> None:
    gen = JobSettings(temperature=[0.5, 1.0])
    assert [gen.temperature_for(i) for i in range(4)] == [0.5, 1.0, 0.5, 1.0]


def _out(position: int, text: str) -> GeneratedText:
    return GeneratedText(position, 1, 0.8, text, 1, 1, 1.0)


def test_duplicates_are_later_exact_repeats_ignoring_space_and_case() -> None:
    outs = [_out(0, "Paris."), _out(1, "paris. "), _out(2, "Lyon"), _out(3, "Paris.")]
    assert duplicate_positions(outs) == [1, 3]
    assert duplicate_positions([_out(0, "a"), _out(1, "b")]) == []
