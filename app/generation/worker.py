"""The generation worker: claim prompts, generate, write each prompt in one transaction.

Claiming uses `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so any number of
`ranklab worker` processes share a job without taking the same prompt; on SQLite every
transaction starts with BEGIN IMMEDIATE (app.core.db), which makes the claim a
single-writer critical section. A claimed task carries `claimed_at`, which a heartbeat
thread keeps fresh; a task whose claim is older than `worker_stale_seconds` belongs to a
dead worker and is claimed again. Before writing, a worker re-checks under a row lock that
the task is still its own, so a slow worker that was taken over writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import is_sqlite, make_sessionmaker, utcnow
from app.core.errors import AppError
from app.core.heartbeat import heartbeat
from app.core.webhooks import events, outbox
from app.generation.backends import (
    Backend,
    CandidateSpec,
    GeneratedText,
    PromptRequest,
    PromptResult,
)
from app.generation.backends.factory import make_backend
from app.generation.backends.transformers import unload_models
from app.generation.claim import Claim
from app.generation.config import JobSettings
from app.generation.dedupe import regenerate_duplicates
from app.generation.errors import BackendError, BackendUnavailable
from app.generation.memory import release_memory
from app.generation.models import GenerationJob, GenerationTask
from app.generation.pipelines import PipelineItem, candidate_output, run_stages, stages
from app.prompt_sets.content import as_messages
from app.prompt_sets.models import Candidate, Prompt

log = logging.getLogger("ranklab.worker")
MAX_ATTEMPTS = 3
# Batches' worth of rows per claim of a local job. More keeps the batch full longer; fewer
# lets another job (claims go oldest job first) or another worker in sooner.
CLAIM_BATCHES = 4
NICE = 10  # the in-process worker thread's priority below the web app's (see _run_niced)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        engine: Engine,
        app_settings: Settings,
        *,
        worker_id: str | None = None,
        poll_seconds: float = 1.0,
        max_attempts: int = MAX_ATTEMPTS,
        extra_work: Sequence[Callable[[], bool]] = (),
    ) -> None:
        self.engine = engine
        self.settings = app_settings
        self.sessionmaker = make_sessionmaker(engine)
        self.worker_id = worker_id or new_worker_id()
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        # Steps of other background work (reward-model training) run between batches by
        # this loop; each returns whether it did something. Passed in by the layers above.
        self.extra_work = list(extra_work)
        self._backends: dict[str, Backend] = {}
        self._backends_job: int | None = None
        self._held_job: int | None = None
        self.cancelled = threading.Event()  # the job in hand was cancelled
        self._last_batch = time.monotonic()
        self.stopping = threading.Event()  # shutting down: drop the batch in flight

    # -- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, until_idle: bool = False) -> None:
        """Work until `stop` is set (or, with until_idle, until nothing is claimable)."""
        who = f"worker {self.worker_id}"
        with heartbeat(self.heartbeat, self.settings.worker_heartbeat_seconds, who):
            while not stop.is_set():
                try:
                    worked = self.run_once()
                except Exception:  # keep the worker alive; the task is retried via staleness
                    log.exception("worker %s: unexpected error", self.worker_id)
                    worked = False
                for step in self.extra_work:
                    try:
                        worked = step() or worked
                    except Exception:
                        log.exception("worker %s: unexpected error", self.worker_id)
                if not worked:
                    if until_idle:
                        return
                    self.unload_if_idle()
                    stop.wait(self.poll_seconds)

    def run_once(self) -> bool:
        """Claim one batch and process it. False when there was nothing to claim."""
        claim = self.claim()
        if claim is None:
            return False
        self._held_job = claim.job_id
        if self._backends_job != claim.job_id:
            self._backends.clear()
            self._backends_job = claim.job_id
        self.cancelled.clear()
        try:
            self._process(claim)
        finally:
            self._held_job = None
            self._last_batch = time.monotonic()
            release_memory()  # the batch's caches and activations, back to the system
        return True

    def unload_if_idle(self) -> bool:
        """After `generation_idle_unload_seconds` without a claim, drop the loaded models
        (and this worker's backends holding them). True when something was dropped."""
        idle = self.settings.generation_idle_unload_seconds
        if not idle or time.monotonic() - self._last_batch < idle:
            return False
        self._backends.clear()
        self._backends_job = None
        if not unload_models():
            return False
        release_memory()
        log.info("worker %s: idle, models unloaded", self.worker_id)
        return True

    def _process(self, claim: Claim) -> None:
        try:
            results = self._generate(claim)
        except (BackendUnavailable, AppError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            self.fail_job(claim.job_id, message)
            return
        except BackendError as exc:
            results = [PromptResult(r.key, error=str(exc)) for r in claim.requests]
        except Exception as exc:  # a model crash fails these prompts, retried boundedly
            log.exception("generation failed for job %s", claim.job_id)
            results = [
                PromptResult(r.key, error=f"{type(exc).__name__}: {exc}") for r in claim.requests
            ]
        for result in results:
            task_id = claim.task_ids[result.key]
            if result.error:
                self.record_failure(claim.job_id, task_id, result.error)
            else:
                self.write_result(claim, task_id, result, claim.settings.model)

    def _generate(self, claim: Claim) -> list[PromptResult]:
        """Each generator's share of the claim in one backend call; model generators that
        differ only in sampling (same model, same batch shape) share one call, since the
        local backend samples each row with its own seed and temperature. A pipeline runs
        one batch per stage. A prompt fails when any of its generators failed it."""
        merged = {r.key: PromptResult(r.key) for r in claim.requests}
        shares = split_by_generator(claim)
        for names in shared_calls(claim, list(shares)):
            spec = claim.generators.get(names[0], {})
            if "pipeline" in spec:
                results = self._run_pipeline(claim, names[0], spec["pipeline"], shares[names[0]])
            else:
                results = self._run_models(claim, {name: shares[name] for name in names})
            for result in results:
                target = merged[result.key]
                target.error = target.error or result.error
                target.outputs.extend(result.outputs)
        return list(merged.values())

    def _run_models(
        self, claim: Claim, shares: dict[str, list[PromptRequest]]
    ) -> list[PromptResult]:
        """One backend call for the shares of generators that batch together (requests
        keyed by their place in the call, since two generators share a prompt id), then
        each generator's duplicates regenerated with its own seeds."""
        backend = self._backend_for(claim.settings_of(next(iter(shares))))
        flat = [(name, r) for name, requests in shares.items() for r in requests]
        answers = backend.generate(
            [PromptRequest(i, r.messages, r.candidates) for i, (_n, r) in enumerate(flat)]
        )
        results: list[PromptResult] = []
        for name, requests in shares.items():
            own = [
                PromptResult(r.key, a.outputs, a.error)
                for (n, r), a in zip(flat, answers, strict=True)
                if n == name
            ]
            sub = Claim(claim.job_id, claim.settings_of(name), requests, claim.task_ids)
            own = regenerate_duplicates(backend, sub, own)
            for result in own:
                for out in result.outputs:
                    out.generator, out.model = name, backend_model(backend)
            results.extend(own)
        return results

    def _run_pipeline(
        self, claim: Claim, name: str, pipeline: dict[str, Any], requests: list[PromptRequest]
    ) -> list[PromptResult]:
        items = [
            PipelineItem(
                r.key,
                spec.position,
                r.messages,
                list(claim.steps.get(claim.task_ids[r.key], {}).get(f"{name}/{spec.position}", [])),
            )
            for r in requests
            for spec in r.candidates
        ]

        def save(changed: list[PipelineItem]) -> None:
            self.save_steps(claim, name, [it for it in changed if it.error is None])

        run_stages(
            pipeline,
            items,
            agent_settings=claim.settings_of,
            backend_for=self._backend_for,
            save=save,
        )
        results = {r.key: PromptResult(r.key) for r in requests}
        seeds = {(r.key, s.position): s.seed for r in requests for s in r.candidates}
        for item in items:
            result = results[item.prompt_id]
            if item.error:
                result.error = result.error or item.error
            else:
                seed = seeds[(item.prompt_id, item.position)]
                result.outputs.append(candidate_output(name, pipeline, item, seed))
        return list(results.values())

    def save_steps(self, claim: Claim, name: str, items: list[PipelineItem]) -> None:
        """Commit the pipeline steps made so far on their tasks (ours only), so a restarted
        worker resumes them instead of starting over."""
        by_task: dict[int, dict[str, list[dict[str, Any]]]] = {}
        for item in items:
            task_id = claim.task_ids[item.prompt_id]
            by_task.setdefault(task_id, {})[f"{name}/{item.position}"] = item.done
        for task_id, steps in by_task.items():
            with self.sessionmaker() as session:
                task = self._own_task(session, task_id)
                if task is None:
                    continue
                task.steps = {**(task.steps or {}), **steps}
                session.commit()
            claim.steps.setdefault(task_id, {}).update(steps)

    def _interrupted(self) -> bool:
        return self.cancelled.is_set() or self.stopping.is_set()

    def _backend_for(self, gen: JobSettings) -> Backend:
        """One backend per distinct settings (a model's weights are shared across them by
        the transformers backend's model cache); the cache holds one job's backends."""
        key = gen.model_dump_json()
        if key not in self._backends:
            backend = make_backend(gen, self.settings)
            backend.should_stop = self._interrupted
            self._backends[key] = backend
        return self._backends[key]

    # -- claiming --------------------------------------------------------------------------

    def claim(self, limit: int | None = None) -> Claim | None:
        with self.sessionmaker() as session:
            tasks = self._claimable(session, limit)
            if not tasks:
                session.rollback()
                return None
            job = session.get(GenerationJob, tasks[0].job_id)
            assert job is not None
            gen = JobSettings.model_validate(job.settings)
            now = utcnow()
            usable = []
            for task in tasks:
                if task.job_id != job.id:
                    continue
                if task.attempts >= self.max_attempts:
                    self._give_up(session, job, task, "the worker handling it stopped")
                    continue
                task.status, task.worker_id, task.claimed_at = "running", self.worker_id, now
                task.attempts += 1
                usable.append(task)
            if job.status == "queued":
                job.status, job.started_at = "running", now
            job.worker_id, job.heartbeat_at = self.worker_id, now
            self._finish_if_complete(session, job)
            claim = Claim(
                job.id,
                gen,
                [],
                {t.prompt_id: t.id for t in usable},
                plans={t.prompt_id: {int(p): g for p, g in (t.plan or {}).items()} for t in usable},
                generators=dict(job.generators or {}),
                steps={t.id: dict(t.steps or {}) for t in usable},
            )
            claim.requests = self._requests(session, claim, usable)
            session.commit()
            if not usable:
                return self.claim(limit)
            return claim

    def _claimable(self, session: Session, limit: int | None) -> list[GenerationTask]:
        stale_before = utcnow() - dt.timedelta(seconds=self.settings.worker_stale_seconds)
        query = (
            select(GenerationTask)
            .join(GenerationJob, GenerationJob.id == GenerationTask.job_id)
            .where(
                GenerationJob.status.in_(("queued", "running")),
                or_(
                    GenerationTask.status == "pending",
                    (GenerationTask.status == "running")
                    & (GenerationTask.claimed_at < stale_before),
                ),
            )
            .order_by(GenerationTask.job_id, GenerationTask.id)
        )
        first = session.scalars(query.limit(1)).first()
        if first is None:
            return []
        job = session.get(GenerationJob, first.job_id)
        assert job is not None
        size = limit or self._batch_prompts(job)
        query = query.where(GenerationTask.job_id == first.job_id)
        if limit is None and self._open_tasks(session, job.id) < size + size // CLAIM_BATCHES:
            size += size // CLAIM_BATCHES  # less than a batch would be left: take it now
        query = query.limit(size)
        if not is_sqlite(self.engine):
            query = query.with_for_update(skip_locked=True, of=GenerationTask)
        return list(session.scalars(query))

    def _batch_prompts(self, job: GenerationJob) -> int:
        """Prompts per claim. The local backend refills its batch from the claim's waiting
        rows, so a claim holds CLAIM_BATCHES batches of `batch_sequences` rows: the batch
        only drains once per claim (a claim of one batch drained every time)."""
        gen = JobSettings.model_validate(job.settings)
        if gen.backend == "openai":
            return self.settings.openai_concurrency * 2
        return max(1, gen.batch_sequences * CLAIM_BATCHES // gen.candidates_per_prompt)

    def _open_tasks(self, session: Session, job_id: int) -> int:
        return (
            session.scalar(
                select(func.count()).where(
                    GenerationTask.job_id == job_id, GenerationTask.status == "pending"
                )
            )
            or 0
        )

    def _requests(
        self, session: Session, claim: Claim, tasks: list[GenerationTask]
    ) -> list[PromptRequest]:
        if not tasks:
            return []
        ids = [t.prompt_id for t in tasks]
        prompts = {p.id: p for p in session.scalars(select(Prompt).where(Prompt.id.in_(ids)))}
        taken: dict[int, set[int]] = {}
        for pid, pos in session.execute(
            select(Candidate.prompt_id, Candidate.position).where(Candidate.prompt_id.in_(ids))
        ):
            taken.setdefault(pid, set()).add(pos)
        requests = []
        k = claim.settings.candidates_per_prompt
        for pid in ids:
            prompt = prompts[pid]
            free = [p for p in range(k) if p not in taken.get(pid, set())]
            for generator, positions in _group(free, claim, pid).items():
                gen = claim.settings_of(_first_agent(claim, generator))
                specs = [
                    CandidateSpec(p, gen.seed_for(pid, p), gen.temperature_for(p))
                    for p in positions
                ]
                messages = as_messages(prompt.text, prompt.messages, gen.system_prompt)
                requests.append(PromptRequest(pid, messages, specs))
        return requests

    # -- writing ---------------------------------------------------------------------------

    def write_result(self, claim: Claim, task_id: int, result: PromptResult, model: str) -> bool:
        """Store one prompt's candidates, mark it ready and the task done: one transaction."""
        with self.sessionmaker() as session:
            task = self._own_task(session, task_id)
            if task is None:
                return False
            job = session.get(
                GenerationJob, claim.job_id, with_for_update=not is_sqlite(self.engine)
            )
            if job is None or job.status == "cancelled":
                session.rollback()
                return False
            prompt = session.get(Prompt, task.prompt_id, with_for_update=not is_sqlite(self.engine))
            assert prompt is not None
            taken = set(
                session.scalars(select(Candidate.position).where(Candidate.prompt_id == prompt.id))
            )
            for out in result.outputs:
                if out.position in taken:
                    continue  # written meanwhile by an overlapping job: keep the first
                session.add(_candidate(prompt.id, out, model, claim))
            session.flush()
            count = (
                session.scalar(select(func.count()).where(Candidate.prompt_id == prompt.id)) or 0
            )
            prompt.candidates_ready = count >= claim.settings.candidates_per_prompt
            task.status, task.finished_at, task.error = "done", utcnow(), None
            job.done += 1
            job.tokens_generated += result.completion_tokens
            job.heartbeat_at = utcnow()
            if job.started_at:
                elapsed = max((utcnow() - job.started_at).total_seconds(), 1e-3)
                job.tokens_per_second = job.tokens_generated / elapsed
            self._finish_if_complete(session, job)
            session.commit()
            return True

    def record_failure(self, job_id: int, task_id: int, error: str) -> None:
        """Put the prompt back for another try, or give up on it after max_attempts."""
        with self.sessionmaker() as session:
            task = self._own_task(session, task_id)
            if task is None:
                return
            job = session.get(GenerationJob, job_id, with_for_update=not is_sqlite(self.engine))
            assert job is not None
            if task.attempts >= self.max_attempts:
                self._give_up(session, job, task, error)
            else:
                task.status, task.error, task.worker_id = "pending", error[:2000], None
            self._finish_if_complete(session, job)
            session.commit()

    def fail_job(self, job_id: int, message: str) -> None:
        """The backend cannot run at all (bad settings, unreachable server): stop the job."""
        log.error("generation job %s failed: %s", job_id, message)
        with self.sessionmaker() as session:
            job = session.get(GenerationJob, job_id, with_for_update=not is_sqlite(self.engine))
            if job is None or job.status not in ("queued", "running"):
                return
            job.status, job.error, job.finished_at = "failed", message[:2000], utcnow()
            job_ended(session, job)
            session.execute(
                update(GenerationTask)
                .where(GenerationTask.job_id == job_id, GenerationTask.status == "running")
                .values(status="pending", worker_id=None, error=message[:2000])
            )
            session.commit()
        if self._backends_job == job_id:
            self._backends.clear()

    def _own_task(self, session: Session, task_id: int) -> GenerationTask | None:
        task = session.get(GenerationTask, task_id, with_for_update=not is_sqlite(self.engine))
        if task is None or task.status != "running" or task.worker_id != self.worker_id:
            session.rollback()  # taken over by another worker after we looked stale
            return None
        return task

    def _give_up(
        self, session: Session, job: GenerationJob, task: GenerationTask, error: str
    ) -> None:
        task.status, task.finished_at = "failed", utcnow()
        task.error = f"gave up after {task.attempts} attempts: {error}"[:2000]
        job.failed += 1

    def _finish_if_complete(self, session: Session, job: GenerationJob) -> None:
        session.flush()
        open_tasks = session.scalar(
            select(func.count()).where(
                GenerationTask.job_id == job.id, GenerationTask.status.in_(("pending", "running"))
            )
        )
        if open_tasks or job.status not in ("queued", "running"):
            return
        job.finished_at = utcnow()
        if job.failed:
            job.status = "failed"
            job.error = (
                f"{job.failed} of {job.total} prompts failed after {self.max_attempts} attempts."
            )
        else:
            job.status = "done"
        job_ended(session, job)

    # -- heartbeat --------------------------------------------------------------------------

    def heartbeat(self) -> None:
        """Keep our claims fresh so no other worker takes them over; notice cancellation."""
        job_id = self._held_job
        if job_id is None:
            return
        with self.sessionmaker() as session:
            now = utcnow()
            session.execute(
                update(GenerationTask)
                .where(
                    GenerationTask.worker_id == self.worker_id, GenerationTask.status == "running"
                )
                .values(claimed_at=now)
            )
            session.execute(
                update(GenerationJob)
                .where(GenerationJob.id == job_id, GenerationJob.status == "running")
                .values(heartbeat_at=now, worker_id=self.worker_id)
            )
            status = session.scalar(select(GenerationJob.status).where(GenerationJob.id == job_id))
            session.commit()
        if status == "cancelled":
            self.cancelled.set()


def job_ended(session: Session, job: GenerationJob) -> None:
    """generation_job.finished or .failed, in the transaction that ends the job."""
    outcome = "finished" if job.status == "done" else "failed"
    data = {
        "job_id": job.id,
        "prompt_set_id": job.prompt_set_id,
        "status": job.status,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "error": job.error,
    }
    outbox.emit(session, events.job_event("generation", outcome), data)


def backend_model(backend: Backend) -> str:
    return backend.model_name


def _candidate(prompt_id: int, out: GeneratedText, model: str, claim: Claim) -> Candidate:
    spec = claim.generators.get(out.generator, {})
    if "pipeline" in spec:
        sampling: dict[str, Any] = {"pipeline": dict(spec["pipeline"])}
    else:
        sampling = claim.settings_of(out.generator).sampling_for(out.position)
        sampling["temperature"] = out.temperature
    return Candidate(
        prompt_id=prompt_id,
        position=out.position,
        text=out.text,
        model=out.model or model,
        generator=out.generator,
        transcript=out.transcript,
        source="generated",
        sampling=sampling,
        seed=out.seed,
        prompt_tokens=out.prompt_tokens,
        completion_tokens=out.completion_tokens,
        latency_ms=out.latency_ms,
        is_duplicate=out.is_duplicate,
    )


def _group(free: list[int], claim: Claim, prompt_id: int) -> dict[str, list[int]]:
    """Free positions by the generator planned for them (unplanned: the job's default)."""
    out: dict[str, list[int]] = {}
    for position in free:
        out.setdefault(claim.generator_of(prompt_id, position), []).append(position)
    return out


def _first_agent(claim: Claim, name: str) -> str:
    """Whose settings shape a request: the generator's own, or a pipeline's first agent's
    (its system prompt frames the drafts)."""
    spec = claim.generators.get(name, {})
    if "pipeline" in spec:
        return str(stages(spec["pipeline"])[0].agent)
    return name


def batch_key(gen: JobSettings) -> str:
    """Generators with equal keys can share a backend call: the local backend takes each
    row's seed, temperature and (through the messages) system prompt from the request."""
    if gen.backend != "transformers":
        return gen.model_dump_json()
    return gen.model_dump_json(exclude={"temperature", "seed", "system_prompt"})


def shared_calls(claim: Claim, names: list[str]) -> list[list[str]]:
    """The claim's generators grouped into backend calls (a pipeline is a call of its own)."""
    calls: dict[str, list[str]] = {}
    for name in names:
        spec = claim.generators.get(name, {})
        key = f"pipeline:{name}" if "pipeline" in spec else batch_key(claim.settings_of(name))
        calls.setdefault(key, []).append(name)
    return list(calls.values())


def split_by_generator(claim: Claim) -> dict[str, list[PromptRequest]]:
    """The claim's requests grouped by the generator that makes them."""
    out: dict[str, list[PromptRequest]] = {}
    for request in claim.requests:
        if request.candidates:
            name = claim.generator_of(request.key, request.candidates[0].position)
            out.setdefault(name, []).append(request)
    return out


def in_process_settings(app_settings: Settings) -> Settings:
    """A worker sharing the process with the web app leaves it a core: torch gets all
    cores but one unless RANKLAB_GENERATION_THREADS says otherwise."""
    if app_settings.generation_threads:
        return app_settings
    threads = max(1, (os.cpu_count() or 1) - 1)
    return app_settings.model_copy(update={"generation_threads": threads})


def _run_niced(worker: Worker, stop: threading.Event) -> None:
    """The in-process worker's thread runs at a lower priority than the web app's, so a
    request gets a core as soon as it needs one (Linux sets nice per thread; the OpenMP
    threads torch starts from this thread inherit it). The worker does not hold the GIL
    while torch computes, so a waiting request is not stuck behind it."""
    if hasattr(os, "setpriority"):
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + NICE)
        except OSError:  # not allowed here: run at the same priority
            log.warning("could not lower the in-process worker's priority")
    worker.run(stop)


def start_in_thread(
    engine: Engine,
    app_settings: Settings,
    extra_work: Callable[[str], Sequence[Callable[[], bool]]] | None = None,
) -> Callable[[], None]:
    """Run a worker in a daemon thread (for `ranklab serve`); returns a stop function.
    `extra_work(worker_id)` gives the other background steps the loop also runs."""
    stop = threading.Event()
    worker_id = new_worker_id()
    steps = extra_work(worker_id) if extra_work else ()
    own_settings = in_process_settings(app_settings)
    worker = Worker(engine, own_settings, worker_id=worker_id, extra_work=steps)
    thread = threading.Thread(
        target=_run_niced, args=(worker, stop), name="ranklab-worker", daemon=True
    )
    thread.start()
    log.info("in-process generation worker %s started", worker.worker_id)

    def stop_worker() -> None:
        worker.stopping.set()
        stop.set()
        thread.join(timeout=30)
        log.info("in-process generation worker %s stopped", worker.worker_id)

    return stop_worker
