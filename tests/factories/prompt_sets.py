"""Prompt sets, prompts and candidates with overridable defaults."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.prompt_sets.content import content_hash
from app.prompt_sets.models import Candidate, Prompt, PromptSet

_counter = itertools.count(1)


def make_prompt_set(
    session: Session,
    *,
    prompts: int = 3,
    candidates: int | None = 4,
    annotators_per_prompt: int = 3,
    commit: bool = True,
    **fields: Any,
) -> PromptSet:
    """A set with `prompts` text prompts; each gets `candidates` ready candidates
    (None: no candidates yet, as before generation)."""
    n = next(_counter)
    ps = PromptSet(
        name=fields.pop("name", f"set-{n}"),
        candidates_per_prompt=candidates or fields.pop("candidates_per_prompt", 4),
        annotators_per_prompt=annotators_per_prompt,
        **fields,
    )
    session.add(ps)
    session.flush()
    for i in range(prompts):
        make_prompt(session, ps, text=f"Prompt {n}.{i}: explain something", candidates=candidates)
    if commit:
        session.commit()
    return ps


def make_prompt(
    session: Session,
    prompt_set: PromptSet,
    *,
    text: str | None = "Explain photosynthesis briefly.",
    messages: list[dict[str, str]] | None = None,
    candidates: int | None = 4,
    models: list[str] | None = None,
    **fields: Any,
) -> Prompt:
    if messages is not None:
        text = None
    prompt = Prompt(
        prompt_set_id=prompt_set.id,
        text=text,
        messages=messages,  # None is stored as SQL NULL (NullableJSONType)
        content_hash=content_hash(text, messages),
        candidates_ready=bool(candidates),
        **fields,
    )
    session.add(prompt)
    session.flush()
    for i in range(candidates or 0):
        model = (models or ["smollm2"])[i % len(models or ["smollm2"])]
        session.add(
            Candidate(
                prompt_id=prompt.id,
                position=i,
                text=f"Answer {i} to prompt {prompt.id}",
                model=model,
                sampling={"temperature": 0.8, "top_p": 0.95, "max_new_tokens": 64},
                seed=1000 + i,
            )
        )
    session.flush()
    return prompt


def make_gold_prompt(session: Session, prompt_set: PromptSet, *, text: str) -> Prompt:
    """A gold prompt whose known best is its candidate at position 0, the rest tied after."""
    prompt = make_prompt(session, prompt_set, text=text)
    ids = list(
        session.scalars(
            select(Candidate.id)
            .where(Candidate.prompt_id == prompt.id)
            .order_by(Candidate.position)
        )
    )
    prompt.is_gold, prompt.gold_ranking = True, [[ids[0]], ids[1:]]
    return prompt
