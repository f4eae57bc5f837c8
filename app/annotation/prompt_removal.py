"""Removing a prompt depends on whether anyone annotated it: the rule lives here, with the
annotations, so the prompt_sets domain below never has to read them."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.annotation.models import Annotation
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Prompt


def annotation_count(session: Session, prompt_id: int) -> int:
    query = select(func.count()).select_from(Annotation).where(Annotation.prompt_id == prompt_id)
    return session.scalar(query) or 0


def delete_or_archive_prompt(session: Session, *, prompt_id: int) -> str:
    """Delete a prompt nobody has annotated; archive one that has annotations, so the
    rankings already collected stay exportable. Returns "deleted" or "archived"."""
    prompt = prompt_set_service.load_prompt(session, prompt_id)
    if annotation_count(session, prompt_id):
        prompt.status = "archived"
        outcome = "archived"
    else:
        session.execute(delete(Prompt).where(Prompt.id == prompt_id))
        outcome = "deleted"
    session.commit()
    return outcome
