"""Generation jobs: create, cancel, read progress. Workers (worker.py) do the generating.

A job holds one task per prompt to generate. Candidates are unique per (prompt,
position) and a worker writes all of a prompt's candidates in one transaction together
with `candidates_ready` and the task's `done`, so a job can be resumed any number of
times without duplicating or losing a candidate.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app.annotation import prompt_removal
from app.annotation.models import Annotation, Assignment
from app.core import audit
from app.core.audit import Target
from app.core.config import Settings
from app.core.db import utcnow
from app.generation.allocation import balanced_design, plan_positions
from app.generation.config import resolve_generation_settings, resolve_generators
from app.generation.errors import InvalidGenerationSettings, JobNotCancellable, JobNotFound
from app.generation.models import GenerationJob, GenerationTask
from app.prompt_sets import dependents
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.generators import GeneratorSpec, competing, generators_of
from app.prompt_sets.models import Candidate, Prompt, PromptSet

ACTIVE_STATUSES = ("queued", "running")
FINISHED_STATUSES = ("done", "failed", "cancelled")


def queue_job(
    session: Session,
    *,
    prompt_set_id: int,
    created_by_id: int | None,
    app_settings: Settings,
    prompt_ids: list[int] | None = None,
    regenerate: bool = False,
    changed_generators: set[str] | None = None,
) -> GenerationJob:
    """Queue generation for a prompt set's prompts that lack candidates: add and flush in
    the caller's session; the use case that owns the action commits (app.generation.service).

    Without `regenerate`, only prompts with fewer than `candidates_per_prompt` candidates
    that no active job already covers are queued. With `regenerate`, the chosen prompts'
    candidates are deleted first (prompts that already have annotations are kept as they
    are) and the set's other active jobs are cancelled, since they run on old settings.
    With `changed_generators` (the generators were edited), only the candidates of those
    generators, and those the new allocation no longer wants, are deleted from prompts
    nobody has annotated: the job then makes just the missing share.
    A job with nothing to do is stored as done with total 0. An archived set gets no job (409).

    Each task carries its plan: which generator makes each free candidate position, from
    the set-wide balanced design (app.generation.allocation).
    """
    prompt_set = prompt_set_service.load_writable_prompt_set(session, prompt_set_id)
    specs, generators = _job_generators(prompt_set, app_settings)
    chosen = _chosen_prompt_ids(session, prompt_set_id, prompt_ids)
    if regenerate or changed_generators is not None:
        # Deleting candidates of prompts nobody annotated: lock them before the count,
        # as deleting a prompt does (issue 20, item 4).
        prompt_removal.lock_prompts(session, chosen)
    if regenerate:
        _cancel_active_jobs(session, prompt_set_id)
        _clear_unannotated_candidates(session, chosen)
    elif changed_generators is not None:
        _cancel_active_jobs(session, prompt_set_id)
        change = plan_generator_change(session, prompt_set, specs, changed_generators, chosen)
        _delete_candidates(session, change.delete_ids)
    queued = _prompts_needing_candidates(session, prompt_set, chosen)
    plans = _plans(session, prompt_set, specs, queued)
    now = utcnow()
    job = GenerationJob(
        prompt_set_id=prompt_set_id,
        settings=_default_settings(generators),
        generators=generators,
        total=len(queued),
        created_by_id=created_by_id,
        status="queued" if queued else "done",
        created_at=now,
        finished_at=None if queued else now,
    )
    session.add(job)
    session.flush()
    session.add_all(
        GenerationTask(
            job_id=job.id, prompt_id=pid, plan={str(p): g for p, g in plans[pid].items()}
        )
        for pid in queued
    )
    session.flush()
    # Every caller (the API, the pages, a regenerating edit, the CLI) queues through here.
    audit.record(
        session,
        None,
        "generation_job.started",
        Target("generation_job", job.id),
        details={
            "prompt_set_id": prompt_set_id,
            "prompts": len(queued),
            "regenerate": regenerate,
            "generators": sorted(generators),
        },
    )
    return job


def _job_generators(
    prompt_set: PromptSet, app_settings: Settings
) -> tuple[list[GeneratorSpec], dict[str, dict[str, Any]]]:
    """The set's generators and their resolved snapshot; bad ones fail naming them (422)."""
    if not prompt_set.generators:
        # A set without named generators: its `generation` settings are checked as such,
        # so errors name generation.<field> as they always did.
        resolve_generation_settings(
            prompt_set.generation,
            app_settings,
            candidates_per_prompt=prompt_set.candidates_per_prompt,
            system_prompt=prompt_set.system_prompt,
        )
    try:
        specs = generators_of(prompt_set.generators, prompt_set.generation)
    except ValueError as exc:
        raise InvalidGenerationSettings(
            str(exc), errors=[{"field": "generators", "message": str(exc)}]
        ) from None
    generators = resolve_generators(
        specs,
        app_settings,
        candidates_per_prompt=prompt_set.candidates_per_prompt,
        system_prompt=prompt_set.system_prompt,
    )
    return specs, generators


def _default_settings(generators: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The job's headline settings (progress shows its model): the first competing model
    generator's, else the first model agent's (a set of pipelines only)."""
    models = [g for g in generators.values() if "settings" in g]
    competing = [g for g in models if g["competes"]]
    return dict((competing or models)[0]["settings"])


def _set_design(
    session: Session, prompt_set: PromptSet, specs: list[GeneratorSpec]
) -> dict[int, list[str]]:
    """Every active prompt's target generators, from the set-wide balanced design."""
    order = list(
        session.scalars(
            select(Prompt.id)
            .where(Prompt.prompt_set_id == prompt_set.id, Prompt.status == "active")
            .order_by(Prompt.id)
        )
    )
    names = [s.name for s in competing(specs)]
    design = balanced_design(len(order), prompt_set.candidates_per_prompt, names)
    return dict(zip(order, design, strict=True))


def _existing_generators(session: Session, prompt_ids: list[int]) -> dict[int, dict[int, str]]:
    out: dict[int, dict[int, str]] = {pid: {} for pid in prompt_ids}
    if prompt_ids:
        for pid, position, generator in session.execute(
            select(Candidate.prompt_id, Candidate.position, Candidate.generator).where(
                Candidate.prompt_id.in_(prompt_ids)
            )
        ):
            out[pid][position] = generator
    return out


def _plans(
    session: Session, prompt_set: PromptSet, specs: list[GeneratorSpec], queued: list[int]
) -> dict[int, dict[int, str]]:
    if not queued:
        return {}
    design = _set_design(session, prompt_set, specs)
    existing = _existing_generators(session, queued)
    k = prompt_set.candidates_per_prompt
    plans = {}
    for pid in queued:
        target = design[pid]
        plan, _drop = plan_positions(target, existing[pid], k)
        # Positions held by candidates the design did not ask for (imported, or kept on an
        # annotated prompt) stay; any other free position takes the design's names in turn.
        free = [p for p in range(k) if p not in existing[pid] and p not in plan]
        for i, position in enumerate(free):
            plan[position] = target[i % len(target)]
        plans[pid] = plan
    return plans


@dataclass
class GeneratorChange:
    """What editing the generators does to prompts nobody has annotated yet."""

    prompts: int = 0  # unannotated prompts touched
    annotated_kept: int = 0  # prompts left as they are because someone ranked them
    delete_ids: list[int] = field(default_factory=list)
    deleted: Counter[str] = field(default_factory=Counter)  # generator -> candidates removed
    generate: Counter[str] = field(default_factory=Counter)  # generator -> candidates to make

    def summary(self) -> dict[str, Any]:
        return {
            "prompts": self.prompts,
            "annotated_prompts_kept": self.annotated_kept,
            "delete": dict(self.deleted),
            "generate": dict(self.generate),
        }


def plan_generator_change(
    session: Session,
    prompt_set: PromptSet,
    specs: list[GeneratorSpec],
    changed: set[str],
    prompt_ids: list[int] | None = None,
) -> GeneratorChange:
    """Which candidates go and which get made when the set's generators become `specs`
    (`changed`: names whose settings changed or that were removed). Reads only: the same
    answer serves the preview and the edit."""
    every = _chosen_prompt_ids(session, prompt_set.id, None)
    chosen = prompt_ids if prompt_ids is not None else every
    annotated = set(
        session.scalars(select(Annotation.prompt_id).where(Annotation.prompt_id.in_(every)))
    )
    open_ids = [pid for pid in chosen if pid not in annotated]
    design = _set_design(session, prompt_set, specs)
    change = GeneratorChange(annotated_kept=len(annotated))
    ids = {
        (pid, pos): cid
        for cid, pid, pos in session.execute(
            select(Candidate.id, Candidate.prompt_id, Candidate.position).where(
                Candidate.prompt_id.in_(open_ids)
            )
        )
    }
    k = prompt_set.candidates_per_prompt
    for pid, existing in _existing_generators(session, open_ids).items():
        stale = {p for p, g in existing.items() if g in changed}
        plan, drop = plan_positions(
            design[pid], {p: g for p, g in existing.items() if p not in stale}, k
        )
        gone = sorted(stale | set(drop))
        if not gone and not plan:
            continue
        change.prompts += 1
        for position in gone:
            change.delete_ids.append(ids[(pid, position)])
            change.deleted[existing[position]] += 1
        change.generate.update(plan.values())
    return change


def _delete_candidates(session: Session, candidate_ids: list[int]) -> None:
    """Remove candidates of unannotated prompts; those prompts wait for new ones."""
    if not candidate_ids:
        return
    prompt_ids = list(
        set(session.scalars(select(Candidate.prompt_id).where(Candidate.id.in_(candidate_ids))))
    )
    session.execute(delete(Candidate).where(Candidate.id.in_(candidate_ids)))
    session.execute(update(Prompt).where(Prompt.id.in_(prompt_ids)).values(candidates_ready=False))
    dependents.candidates_replaced(session, prompt_ids)  # judge rankings of the old ones
    session.execute(
        update(Assignment)
        .where(Assignment.prompt_id.in_(prompt_ids), Assignment.status == "leased")
        .values(status="released", finished_at=utcnow())
    )
    session.flush()


def _chosen_prompt_ids(
    session: Session, prompt_set_id: int, prompt_ids: list[int] | None
) -> list[int]:
    active = select(Prompt.id).where(
        Prompt.prompt_set_id == prompt_set_id, Prompt.status == "active"
    )
    if prompt_ids is None:
        return list(session.scalars(active.order_by(Prompt.id)))
    found = set(session.scalars(active.where(Prompt.id.in_(prompt_ids))))
    unknown = [pid for pid in prompt_ids if pid not in found]
    if unknown:
        raise InvalidGenerationSettings(
            f"prompt_ids: {unknown[:10]} are not active prompts of prompt set {prompt_set_id}.",
            errors=[
                {"field": "prompt_ids", "message": f"unknown prompt id {pid}"} for pid in unknown
            ],
        )
    return sorted(found)


def _cancel_active_jobs(session: Session, prompt_set_id: int) -> None:
    session.execute(
        update(GenerationJob)
        .where(
            GenerationJob.prompt_set_id == prompt_set_id, GenerationJob.status.in_(ACTIVE_STATUSES)
        )
        .values(status="cancelled", cancel_requested=True, finished_at=utcnow())
    )


def _clear_unannotated_candidates(session: Session, prompt_ids: list[int]) -> None:
    """Delete candidates of prompts nobody has ranked yet; hand back their open leases."""
    if not prompt_ids:
        return
    annotated = select(Annotation.prompt_id).where(Annotation.prompt_id.in_(prompt_ids))
    clear = [pid for pid in prompt_ids if pid not in set(session.scalars(annotated))]
    if clear:
        ids = session.scalars(select(Candidate.id).where(Candidate.prompt_id.in_(clear)))
        _delete_candidates(session, list(ids))


def _prompts_needing_candidates(
    session: Session, prompt_set: PromptSet, chosen: list[int]
) -> list[int]:
    if not chosen:
        return []
    counts = dict(
        session.execute(
            select(Candidate.prompt_id, func.count())
            .where(Candidate.prompt_id.in_(chosen))
            .group_by(Candidate.prompt_id)
        ).all()
    )
    covered = set(
        session.scalars(
            select(GenerationTask.prompt_id)
            .join(GenerationJob, GenerationJob.id == GenerationTask.job_id)
            .where(
                GenerationJob.status.in_(ACTIVE_STATUSES),
                GenerationTask.status.in_(("pending", "running")),
                GenerationTask.prompt_id.in_(chosen),
            )
        )
    )
    need = prompt_set.candidates_per_prompt
    return [pid for pid in chosen if counts.get(pid, 0) < need and pid not in covered]


def load_job(session: Session, job_id: int, prompt_set_id: int | None = None) -> GenerationJob:
    """The job, or JobNotFound (404); with `prompt_set_id`, also when it is another set's."""
    job = session.get(GenerationJob, job_id)
    if job is None:
        raise JobNotFound(f"Generation job {job_id} does not exist.")
    if prompt_set_id is not None and job.prompt_set_id != prompt_set_id:
        raise JobNotFound(f"Generation job {job_id} is not a job of prompt set {prompt_set_id}.")
    return job


def latest_job(session: Session, prompt_set_id: int) -> GenerationJob | None:
    return session.scalars(
        select(GenerationJob)
        .where(GenerationJob.prompt_set_id == prompt_set_id)
        .order_by(GenerationJob.id.desc())
        .limit(1)
    ).first()


def cancel_job(session: Session, *, job_id: int, prompt_set_id: int | None = None) -> GenerationJob:
    """Mark a queued or running job cancelled (a worker drops what it has in flight); flush.

    With `prompt_set_id`, a job of another set is JobNotFound (404)."""
    job = load_job(session, job_id, prompt_set_id)
    session.refresh(job)
    if job.status in FINISHED_STATUSES:
        raise JobNotCancellable(f"Generation job {job_id} is already {job.status}.")
    audit.record(
        session,
        None,
        "generation_job.cancelled",
        Target("generation_job", job.id),
        audit.diff({"status": job.status}, {"status": "cancelled"}),
        details={"prompt_set_id": job.prompt_set_id},
    )
    job.status = "cancelled"
    job.cancel_requested = True
    job.finished_at = utcnow()
    session.flush()
    return job


def recent_task_errors(session: Session, job_id: int, limit: int = 5) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            GenerationTask.prompt_id,
            GenerationTask.status,
            GenerationTask.attempts,
            GenerationTask.error,
        )
        .where(GenerationTask.job_id == job_id, GenerationTask.error.is_not(None))
        .order_by(GenerationTask.id.desc())
        .limit(limit)
    ).all()
    return [
        {"prompt_id": r.prompt_id, "status": r.status, "attempts": r.attempts, "error": r.error}
        for r in rows
    ]


def job_progress(job: GenerationJob, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Plain progress data for the API, the progress bar and the CLI."""
    finished = job.done + job.failed
    eta = None
    if job.status == "running" and job.started_at and job.done:
        elapsed = (utcnow() - job.started_at).total_seconds()
        eta = round(elapsed / job.done * (job.total - finished), 1)
    return {
        "id": job.id,
        "prompt_set_id": job.prompt_set_id,
        "status": job.status,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "percent": round(100 * finished / job.total, 1) if job.total else 100.0,
        "tokens_generated": job.tokens_generated,
        "tokens_per_second": round(job.tokens_per_second, 2) if job.tokens_per_second else None,
        "eta_seconds": eta,
        "error": job.error,
        "errors": errors or [],
        "model": job.settings.get("model"),
        "backend": job.settings.get("backend"),
        "worker_id": job.worker_id,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "heartbeat_at": _iso(job.heartbeat_at),
        "finished_at": _iso(job.finished_at),
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
