"""Rules that depend on whether anyone annotated a prompt (removing it, regenerating it) live
here, with the annotations, so the prompt_sets domain below never has to read them."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.annotation.models import Annotation
from app.core import audit
from app.core.audit import Target
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Prompt


def annotation_count(session: Session, prompt_id: int) -> int:
    query = select(func.count()).select_from(Annotation).where(Annotation.prompt_id == prompt_id)
    return session.scalar(query) or 0


def lock_prompts(session: Session, prompt_ids: list[int]) -> None:
    """Take the prompts' row locks (PostgreSQL), in id order, before counting whether
    anyone annotated them (issue 20, item 4). A submit stores its annotation under the
    same lock (app.annotation.submission), so a count taken after it sees every submit
    that committed, and a submit still running waits until this transaction ends: no
    annotation is cascade-deleted with its prompt, or loses its comparisons with the
    candidates, between the count and the delete."""
    if prompt_ids:
        session.execute(
            select(Prompt.id).where(Prompt.id.in_(prompt_ids)).order_by(Prompt.id).with_for_update()
        )


def delete_or_archive_prompt(session: Session, *, prompt_id: int) -> str:
    """Delete a prompt nobody has annotated; archive one that has annotations, so the
    rankings already collected stay exportable. Returns "deleted" or "archived".
    The prompt is locked before the count (`lock_prompts`)."""
    lock_prompts(session, [prompt_id])
    prompt = prompt_set_service.load_writable_prompt(session, prompt_id)
    target, set_id = Target("prompt", prompt_id), prompt.prompt_set_id
    if annotation_count(session, prompt_id):
        audit.record(
            session,
            None,
            "prompt.archived",
            target,
            audit.diff({"status": prompt.status}, {"status": "archived"}),
            details={"prompt_set_id": set_id},
        )
        prompt.status = "archived"
        outcome = "archived"
    else:
        session.execute(delete(Prompt).where(Prompt.id == prompt_id))
        audit.record(session, None, "prompt.deleted", target, details={"prompt_set_id": set_id})
        outcome = "deleted"
    session.commit()
    return outcome


def unannotated_prompt_ids(session: Session, prompt_set_id: int) -> list[int]:
    """Active prompts nobody has annotated yet: safe to regenerate. Read without locks
    (a preview); what deletes candidates locks the prompts and counts again
    (app.generation.jobs.queue_job)."""
    annotated = select(Annotation.id).where(Annotation.prompt_id == Prompt.id).exists()
    return list(
        session.scalars(
            select(Prompt.id)
            .where(Prompt.prompt_set_id == prompt_set_id, Prompt.status == "active", ~annotated)
            .order_by(Prompt.id)
        )
    )
