"""A prompt set's generators: named models (with their settings) or multi-agent pipelines.

A generator is either a model — a GenerationSettings under a name — or a pipeline: a fixed
recipe wired from other generators of the same set, its agents.

- draft_critique_revise: `drafter` answers, `critic` lists the answer's problems, `drafter`
  rewrites its answer; the rewrite is the candidate.
- ensemble_merge: every `members` agent answers, `merger` writes one final answer from them.

A generator with `competes: false` makes no candidates of its own: it exists as an agent.
Stored on PromptSet.generators as a list of dicts; a set stored without any (created before
generators existed and not migrated, or by a script that sets `generation` only) has one
generator, "default", made of its `generation` settings — `generators_of` is that rule.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.core.errors import InvalidInput
from app.prompt_sets.schemas import GenerationSettings

DEFAULT_GENERATOR = "default"
MAX_GENERATORS = 16
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
RECIPES = ("draft_critique_revise", "ensemble_merge")


class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipe: Literal["draft_critique_revise", "ensemble_merge"]
    drafter: str | None = None
    critic: str | None = None
    members: list[str] = Field(default_factory=list, max_length=8)
    merger: str | None = None

    @model_validator(mode="after")
    def _roles_for_recipe(self) -> PipelineSpec:
        if self.recipe == "draft_critique_revise":
            if not self.drafter or not self.critic:
                raise ValueError("draft_critique_revise needs a drafter and a critic")
            if self.members or self.merger:
                raise ValueError("draft_critique_revise takes drafter and critic only")
        else:
            if len(self.members) < 2 or not self.merger:
                raise ValueError("ensemble_merge needs at least two members and a merger")
            if self.drafter or self.critic:
                raise ValueError("ensemble_merge takes members and merger only")
        return self

    def agents(self) -> list[str]:
        """The generator names this pipeline calls, in the order of its roles."""
        if self.recipe == "draft_critique_revise":
            return [a for a in (self.drafter, self.critic) if a]
        return [*self.members, *([self.merger] if self.merger else [])]


class GeneratorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    settings: GenerationSettings | None = None
    pipeline: PipelineSpec | None = None
    competes: bool = True
    # A model generator's own system prompt; None: the prompt set's.
    system_prompt: str | None = Field(default=None, max_length=20_000)

    @model_validator(mode="after")
    def _model_xor_pipeline(self) -> GeneratorSpec:
        if (self.settings is None) == (self.pipeline is None):
            raise ValueError("give either settings (a model) or pipeline, not both or neither")
        return self

    @property
    def is_pipeline(self) -> bool:
        return self.pipeline is not None

    def to_stored(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "competes": self.competes}
        if self.settings is not None:
            out["settings"] = self.settings.to_stored()
        if self.pipeline is not None:
            out["pipeline"] = self.pipeline.model_dump(exclude_defaults=True)
            out["pipeline"]["recipe"] = self.pipeline.recipe
        if self.system_prompt is not None:
            out["system_prompt"] = self.system_prompt
        return out


def _name_of(raw: Any, index: int) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return name if isinstance(name, str) and name else f"#{index + 1}"


def parse_generators(raw: Any) -> list[GeneratorSpec]:
    """Validate a list of generator dicts; ValueError names the generator and the field."""
    if not isinstance(raw, list):
        raise ValueError("give a list of generators")
    if not raw:
        raise ValueError("give at least one generator")
    if len(raw) > MAX_GENERATORS:
        raise ValueError(f"at most {MAX_GENERATORS} generators")
    specs = []
    for i, item in enumerate(raw):
        if isinstance(item, GeneratorSpec):
            specs.append(item)
            continue
        try:
            specs.append(GeneratorSpec.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "generator"
            message = err["msg"].removeprefix("Value error, ")
            raise ValueError(f"generator {_name_of(item, i)!r}: {field}: {message}") from None
    check_wiring(specs)
    return specs


def check_wiring(specs: list[GeneratorSpec]) -> None:
    """Unique names, known agents, no cycle, no nested pipelines, something that competes."""
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ValueError(f"generator {spec.name!r}: name: the name is used twice")
        seen.add(spec.name)
    by_name = {s.name: s for s in specs}
    for spec in specs:
        for agent in spec.pipeline.agents() if spec.pipeline else []:
            if agent not in by_name:
                raise ValueError(
                    f"generator {spec.name!r}: pipeline: unknown agent {agent!r}"
                    f" (known: {', '.join(sorted(by_name))})"
                )
    cycle = _find_cycle(by_name)
    if cycle:
        raise ValueError(f"generator {cycle[0]!r}: pipeline: cycle {' -> '.join(cycle)}")
    for spec in specs:
        for agent in spec.pipeline.agents() if spec.pipeline else []:
            if by_name[agent].is_pipeline:
                raise ValueError(
                    f"generator {spec.name!r}: pipeline: agent {agent!r} is itself a pipeline;"
                    " agents must be models"
                )
    if not any(s.competes for s in specs):
        raise ValueError("generators: at least one generator must compete (make candidates)")


def _find_cycle(by_name: dict[str, GeneratorSpec]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, path: list[str]) -> list[str] | None:
        if state.get(name) == 1:
            return [*path[path.index(name) :], name]
        if state.get(name) == 2:
            return None
        state[name] = 1
        spec = by_name[name]
        for agent in spec.pipeline.agents() if spec.pipeline else []:
            found = visit(agent, [*path, name])
            if found:
                return found
        state[name] = 2
        return None

    for name in by_name:
        found = visit(name, [])
        if found:
            return found
    return None


def default_generators(generation: dict[str, Any]) -> list[dict[str, Any]]:
    """The one generator of a set that only has `generation` settings."""
    return [{"name": DEFAULT_GENERATOR, "competes": True, "settings": dict(generation)}]


def generators_of(
    generators: list[dict[str, Any]] | None, generation: dict[str, Any]
) -> list[GeneratorSpec]:
    """A stored set's generators (see the module docstring for the fallback)."""
    return parse_generators(generators or default_generators(generation))


def competing(specs: list[GeneratorSpec]) -> list[GeneratorSpec]:
    return [s for s in specs if s.competes]


def is_valid_name(name: str) -> bool:
    return re.match(NAME_PATTERN, name) is not None


def checked_generators(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Generators from a request, as stored; InvalidInput (422) names the generator."""
    try:
        return [spec.to_stored() for spec in parse_generators(raw)]
    except ValueError as exc:
        errors = [{"field": "generators", "message": str(exc)}]
        raise InvalidGenerators(str(exc), errors=errors) from None


class InvalidGenerators(InvalidInput):
    code = "invalid_generators"


def describe(spec: GeneratorSpec) -> str:
    """One line for the dataset card and pages: name, then the model and its sampling, or
    the pipeline's recipe and agents."""
    role = "" if spec.competes else " (agent only)"
    if spec.pipeline is not None:
        p = spec.pipeline
        wiring = (
            f"drafter {p.drafter}, critic {p.critic}"
            if p.recipe == "draft_critique_revise"
            else f"members {', '.join(p.members)}, merger {p.merger}"
        )
        return f"{spec.name}{role}: pipeline {p.recipe} ({wiring})"
    assert spec.settings is not None
    s = spec.settings
    system = f", system prompt {spec.system_prompt!r}" if spec.system_prompt else ""
    return (
        f"{spec.name}{role}: {s.backend} {s.model}, temperature {s.temperature}, "
        f"top_p {s.top_p}, max_new_tokens {s.max_new_tokens}{system}"
    )
