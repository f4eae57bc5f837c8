"""Generation use cases: each is one user action and commits once.

`app.generation.jobs` holds the helpers (they add and flush in the caller's session);
the routes, the CLI and the demo call these functions, which own the commit.
Editing a prompt set lives here too: with "regenerate", saving new settings also queues
a job, and prompt_sets (a lower layer) must not know about jobs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.annotation import prompt_removal
from app.core.config import Settings
from app.generation import jobs
from app.generation.models import GenerationJob
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.generators import (
    PipelineSpec,
    checked_generators,
    generators_of,
)
from app.prompt_sets.models import PromptSet
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
    queue a job regenerating the prompts nobody has annotated yet: one commit for both.

    When only the generators changed (added, removed or re-set), the job keeps the
    candidates of unchanged generators the new allocation still wants and makes only the
    missing share (see preview_generator_change, which says so before it happens)."""
    before = prompt_set_service.load_prompt_set(session, prompt_set_id)
    old = _generator_state(before)
    result = prompt_set_service.apply_prompt_set_changes(
        session, prompt_set_id=prompt_set_id, changes=changes
    )
    if (
        changes.regenerate
        and result.generation_changed
        and prompt_set_service.has_candidates(session, prompt_set_id)
    ):
        prompt_ids = prompt_removal.unannotated_prompt_ids(session, prompt_set_id)
        new = _generator_state(result.prompt_set)
        if prompt_ids:
            only_generators = old[1:] == new[1:]
            job = jobs.queue_job(
                session,
                prompt_set_id=prompt_set_id,
                created_by_id=user_id,
                app_settings=app_settings,
                prompt_ids=prompt_ids,
                regenerate=not only_generators,
                changed_generators=changed_generators(old[0], new[0]) if only_generators else None,
            )
            result.regeneration_job_id = job.id
    session.commit()
    return result


def preview_generator_change(
    session: Session, *, prompt_set_id: int, generators: list[dict[str, Any]]
) -> dict[str, Any]:
    """What saving `generators` with "regenerate" would do, without doing it: how many
    unannotated prompts change, which candidates go and which get made, per generator."""
    prompt_set = prompt_set_service.load_writable_prompt_set(session, prompt_set_id)
    old = _generator_state(prompt_set)[0]
    new = checked_generators(generators)
    specs = generators_of(new, prompt_set.generation)
    prompt_ids = prompt_removal.unannotated_prompt_ids(session, prompt_set_id)
    change = jobs.plan_generator_change(
        session, prompt_set, specs, changed_generators(old, new), prompt_ids
    )
    return {**change.summary(), "changed_generators": sorted(changed_generators(old, new))}


def _generator_state(prompt_set: PromptSet) -> tuple[list[dict[str, Any]], int, str]:
    # Normalised the way a request's generators are stored, so only real changes differ.
    generators = [
        s.to_stored() for s in generators_of(prompt_set.generators, prompt_set.generation)
    ]
    return generators, prompt_set.candidates_per_prompt, prompt_set.system_prompt


def changed_generators(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> set[str]:
    """Names whose candidates no longer match: removed, or stored differently now. A
    pipeline also changes when one of its agents does."""
    old_by, new_by = {g["name"]: g for g in old}, {g["name"]: g for g in new}
    changed = {n for n, g in old_by.items() if new_by.get(n) != g}
    for name, g in new_by.items():
        agents = PipelineSpec.model_validate(g["pipeline"]).agents() if "pipeline" in g else []
        if changed & set(agents):
            changed.add(name)
    return changed
