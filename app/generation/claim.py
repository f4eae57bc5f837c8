"""Claim: the prompts of one job a worker has taken, with the tasks that track them.

Its own module because the worker builds claims and duplicate regeneration reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.generation.backends import PromptRequest
from app.generation.config import JobSettings


@dataclass
class Claim:
    job_id: int
    settings: JobSettings
    requests: list[PromptRequest]
    task_ids: dict[int, int]  # prompt id -> task id
