"""Seed a live server's database with a ready prompt set (browser tests, benchmark)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

import app.models  # noqa: F401  (every table registered, for foreign keys)
from app.core.db import make_engine
from app.prompt_sets.content import content_hash
from app.prompt_sets.models import Candidate, Prompt, PromptSet


def seed_prompt_set(
    database_url: str,
    *,
    name: str = "Browser set",
    items: list[tuple[str, list[str]]],
    **fields: Any,
) -> int:
    """Create a set whose prompts (text, [candidate texts]) are ready to annotate."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            ps = PromptSet(name=name, candidates_per_prompt=len(items[0][1]), **fields)
            session.add(ps)
            session.flush()
            for text, answers in items:
                prompt = Prompt(
                    prompt_set_id=ps.id,
                    text=text,
                    content_hash=content_hash(text, None),
                    candidates_ready=True,
                )
                session.add(prompt)
                session.flush()
                session.add_all(
                    Candidate(prompt_id=prompt.id, position=i, text=answer, model=f"model-{i}")
                    for i, answer in enumerate(answers)
                )
            session.commit()
            return ps.id
    finally:
        engine.dispose()
