"""Generation use cases: each is one user action and commits once.

`app.generation.jobs` holds the helpers (they add and flush in the caller's session);
the routes, the CLI and the demo call these functions, which own the commit.
Editing a prompt set lives here too: with "regenerate", saving new settings also queues
a job, and prompt_sets (a lower layer) must not know about jobs.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.annotation import prompt_removal
from app.core.config import Settings
from app.generation import jobs
from app.generation.models import GenerationJob
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.schemas import PromptSetPatch


def start_generation(
    session: Session,
    *,
    prompt_set_id: int,
    created_by_id: int | None,
    app_settings: Settings,
    prompt_ids: list[int] | None = None,
    regenerate: bool = False,
) -> GenerationJob:
    """Queue a generation job (see jobs.queue_job) and commit."""
    job = jobs.queue_job(
        session,
        prompt_set_id=prompt_set_id,
        created_by_id=created_by_id,
        app_settings=app_settings,
        prompt_ids=prompt_ids,
        regenerate=regenerate,
    )
    session.commit()
    return job


def cancel_generation(
    session: Session, *, job_id: int, prompt_set_id: int | None = None
) -> GenerationJob:
    """Cancel a queued or running job and commit; with `prompt_set_id`, only that set's job."""
    job = jobs.cancel_job(session, job_id=job_id, prompt_set_id=prompt_set_id)
    session.commit()
    return job


def edit_prompt_set(
    session: Session,
    *,
    prompt_set_id: int,
    changes: PromptSetPatch,
    user_id: int | None,
    app_settings: Settings,
) -> prompt_set_service.UpdateResult:
    """Apply the changes. With `changes.regenerate` and changed generation settings, also
    queue a job regenerating the prompts nobody has annotated yet: one commit for both."""
    result = prompt_set_service.apply_prompt_set_changes(
        session, prompt_set_id=prompt_set_id, changes=changes
    )
    if (
        changes.regenerate
        and result.generation_changed
        and prompt_set_service.has_candidates(session, prompt_set_id)
    ):
        prompt_ids = prompt_removal.unannotated_prompt_ids(session, prompt_set_id)
        if prompt_ids:
            job = jobs.queue_job(
                session,
                prompt_set_id=prompt_set_id,
                created_by_id=user_id,
                app_settings=app_settings,
                prompt_ids=prompt_ids,
                regenerate=True,
            )
            result.regeneration_job_id = job.id
    session.commit()
    return result
