"""Prompt sets ready for generation, and fresh databases that workers can commit to."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.prompt_sets.models import PromptSet
from tests.factories.prompt_sets import make_prompt, make_prompt_set

CHAT = [
    {"role": "user", "content": "Name a fruit."},
    {"role": "assistant", "content": "An apple."},
    {"role": "user", "content": "And a vegetable?"},
]
QUESTIONS = [
    "What is the capital of France?",
    "Write a haiku about tea.",
    "Give one tip for sleeping better.",
    "What is 12 times 12?",
    "Name three primary colours.",
    "Why is the sea salty?",
    "Suggest a name for a cat.",
    "How do I boil an egg?",
]


def make_generation_set(
    session: Session,
    *,
    prompts: int = 3,
    candidates: int = 2,
    generation: dict[str, Any] | None = None,
    with_chat: bool = False,
    **fields: Any,
) -> PromptSet:
    """A committed set of `prompts` real questions (plus a multi-turn chat) without candidates."""
    ps = make_prompt_set(
        session,
        prompts=0,
        candidates=None,
        candidates_per_prompt=candidates,
        generation=generation or {"max_new_tokens": 16},
        commit=False,
        **fields,
    )
    for i in range(prompts):
        make_prompt(session, ps, text=QUESTIONS[i % len(QUESTIONS)] + f" (#{i})", candidates=None)
    if with_chat:
        make_prompt(session, ps, messages=CHAT, candidates=None)
    session.commit()
    return ps
