"""Claim: the prompts of one job a worker has taken, with the tasks that track them.

Its own module because the worker builds claims and duplicate regeneration reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.generation.backends import PromptRequest
from app.generation.config import JobSettings


@dataclass
class Claim:
    job_id: int
    settings: JobSettings
    requests: list[PromptRequest]
    task_ids: dict[int, int]  # prompt id -> task id
    # Which generator makes each requested position: prompt id -> {position: name}.
    plans: dict[int, dict[int, str]] = field(default_factory=dict)
    # The job's generators snapshot (app.generation.config.resolve_generators).
    generators: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Pipeline steps finished before (a resumed task): task id -> {"<gen>/<pos>": [...]}.
    steps: dict[int, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)

    def generator_of(self, prompt_id: int, position: int) -> str:
        return self.plans.get(prompt_id, {}).get(position, "")

    def settings_of(self, name: str) -> JobSettings:
        """A model generator's settings (the job's own settings for an unplanned position)."""
        spec = self.generators.get(name)
        if spec is None or "settings" not in spec:
            return self.settings
        return JobSettings.model_validate(spec["settings"])
