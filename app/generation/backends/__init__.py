"""The generation backend interface (factory.py picks an implementation).

A backend turns a batch of requests (one per prompt: the chat, and one seed/temperature
per candidate wanted) into generated texts with token counts and latency. It knows
nothing about jobs or the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class CandidateSpec:
    position: int
    seed: int
    temperature: float


@dataclass(frozen=True)
class PromptRequest:
    key: int  # the prompt id: results come back under it
    messages: list[dict[str, str]]
    candidates: list[CandidateSpec]


@dataclass
class GeneratedText:
    position: int
    seed: int | None
    temperature: float
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float
    is_duplicate: bool = False  # still an exact duplicate after the bounded regenerations
    # Why the text ended: "stop" (an end-of-turn token), "length" (cut off at
    # max_new_tokens), None when the backend does not say (or the row was cancelled).
    finish_reason: str | None = None
    # Set by the worker, not the backend: which prompt set generator made it, the model
    # label to store, and a pipeline's intermediate messages.
    generator: str = ""
    model: str = ""
    transcript: list[dict[str, Any]] | None = None


@dataclass
class PromptResult:
    key: int
    outputs: list[GeneratedText] = field(default_factory=list)
    error: str | None = None  # set when this prompt alone failed

    @property
    def completion_tokens(self) -> int:
        return sum(o.completion_tokens or 0 for o in self.outputs)


class Backend(Protocol):
    model_name: str

    @property
    def batch_prompts(self) -> int:
        """How many prompts a worker should hand over per call."""
        ...

    # Polled during generation where the backend can stop early (a cancelled job).
    should_stop: Callable[[], bool] | None

    def generate(self, requests: list[PromptRequest]) -> list[PromptResult]: ...
