"""Claiming, takeover and the one-transaction write, on real databases (no model needed)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, utcnow
from app.generation import service as generation_service
from app.generation.backends import GeneratedText, PromptResult
from app.generation.models import GenerationJob, GenerationTask
from app.generation.worker import Worker
from app.prompt_sets.models import Candidate, Prompt
from tests.factories.generation import make_generation_set
from tests.support import databases


@pytest.fixture(params=["sqlite", "postgresql"])
def work_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return databases.migrated(databases.sqlite_url(tmp_path / "work.db"))
    return request.getfixturevalue("fresh_postgres_url")


def _settings(tmp_path: Path, url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", database_url=url, secret_key="x" * 48, worker_stale_seconds=30
    )


def _result(claim, prompt_id: int, text: str) -> PromptResult:
    [request] = [r for r in claim.requests if r.key == prompt_id]
    outputs = [
        GeneratedText(s.position, s.seed, s.temperature, f"{text} {s.position}", 5, 3, 9.0)
        for s in request.candidates
    ]
    return PromptResult(prompt_id, outputs)


def test_skip_locked_hands_concurrent_claims_different_prompts(
    fresh_postgres_url, tmp_path
) -> None:
    app_settings = _settings(tmp_path, fresh_postgres_url)
    engine = make_engine(fresh_postgres_url)
    try:
        with make_sessionmaker(engine)() as session:
            ps = make_generation_set(session, prompts=4)
            generation_service.start_generation(
                session, prompt_set_id=ps.id, created_by_id=None, app_settings=app_settings
            )
        a, b = Worker(engine, app_settings), Worker(engine, app_settings)
        with make_sessionmaker(engine)() as held:
            locked = {t.prompt_id for t in a._claimable(held, 2)}  # locked, transaction open
            claim_b = b.claim(limit=4)
            held.rollback()
        assert claim_b is not None and len(locked) == 2
        assert locked.isdisjoint(claim_b.task_ids)
        assert len(claim_b.task_ids) == 2
    finally:
        engine.dispose()


def test_a_stale_claim_is_taken_over_and_the_old_worker_cannot_write(work_url, tmp_path) -> None:
    app_settings = _settings(tmp_path, work_url)
    engine = make_engine(work_url)
    try:
        with make_sessionmaker(engine)() as session:
            ps = make_generation_set(session, prompts=1, candidates=2)
            job = generation_service.start_generation(
                session, prompt_set_id=ps.id, created_by_id=None, app_settings=app_settings
            )
        old, new = Worker(engine, app_settings), Worker(engine, app_settings)
        old_claim = old.claim()
        assert new.claim() is None  # fresh claim: nobody else may take it
        with make_sessionmaker(engine)() as session:
            session.execute(
                update(GenerationTask).values(claimed_at=utcnow() - dt.timedelta(seconds=120))
            )
            session.commit()
        new_claim = new.claim()
        assert new_claim is not None and new_claim.task_ids == old_claim.task_ids

        [prompt_id] = old_claim.task_ids
        task_id = old_claim.task_ids[prompt_id]
        assert (
            old.write_result(old_claim, task_id, _result(old_claim, prompt_id, "old"), "m") is False
        )
        assert (
            new.write_result(new_claim, task_id, _result(new_claim, prompt_id, "new"), "m") is True
        )

        with make_sessionmaker(engine)() as session:
            texts = session.scalars(select(Candidate.text).order_by(Candidate.position)).all()
            assert texts == ["new 0", "new 1"]
            assert session.get(Prompt, prompt_id).candidates_ready is True
            task = session.get(GenerationTask, task_id)
            assert (task.status, task.attempts, task.worker_id) == ("done", 2, new.worker_id)
            job = session.get(GenerationJob, job.id)
            assert (job.status, job.done, job.tokens_generated) == ("done", 1, 6)
    finally:
        engine.dispose()


def test_writing_keeps_existing_positions_and_fills_only_the_gaps(work_url, tmp_path) -> None:
    app_settings = _settings(tmp_path, work_url)
    engine = make_engine(work_url)
    try:
        with make_sessionmaker(engine)() as session:
            ps = make_generation_set(session, prompts=1, candidates=3)
            prompt = session.scalars(select(Prompt)).one()
            session.add(
                Candidate(prompt_id=prompt.id, position=1, text="imported", source="imported")
            )
            session.commit()
            generation_service.start_generation(
                session, prompt_set_id=ps.id, created_by_id=None, app_settings=app_settings
            )
        worker = Worker(engine, app_settings)
        claim = worker.claim()
        assert [s.position for s in claim.requests[0].candidates] == [0, 2]
        worker.write_result(claim, claim.task_ids[prompt.id], _result(claim, prompt.id, "gen"), "m")
        with make_sessionmaker(engine)() as session:
            rows = session.execute(
                select(Candidate.position, Candidate.text).order_by(Candidate.position)
            ).all()
            assert [tuple(r) for r in rows] == [(0, "gen 0"), (1, "imported"), (2, "gen 2")]
            assert session.scalar(select(func.count()).select_from(Candidate)) == 3
    finally:
        engine.dispose()


def test_a_cancelled_job_drops_the_batch_in_flight(work_url, tmp_path) -> None:
    app_settings = _settings(tmp_path, work_url)
    engine = make_engine(work_url)
    try:
        with make_sessionmaker(engine)() as session:
            ps = make_generation_set(session, prompts=1)
            job = generation_service.start_generation(
                session, prompt_set_id=ps.id, created_by_id=None, app_settings=app_settings
            )
        worker = Worker(engine, app_settings)
        claim = worker.claim()
        with make_sessionmaker(engine)() as session:
            generation_service.cancel_generation(session, job_id=job.id)
        [prompt_id] = claim.task_ids
        written = worker.write_result(
            claim, claim.task_ids[prompt_id], _result(claim, prompt_id, "x"), "m"
        )
        assert written is False
        with make_sessionmaker(engine)() as session:
            assert session.scalar(select(func.count()).select_from(Candidate)) == 0
            assert session.get(GenerationJob, job.id).status == "cancelled"
    finally:
        engine.dispose()


@pytest.mark.parametrize(("prompts", "claims"), [(9, [9]), (10, [8, 2]), (20, [8, 8, 4])])
def test_a_claim_holds_four_batches_and_leaves_no_sliver_behind(
    work_url, tmp_path, prompts, claims
) -> None:
    """batch_sequences 4 and 2 candidates: a batch is 2 prompts, a claim 8, and a claim
    that would leave less than a batch behind takes it too."""
    app_settings = _settings(tmp_path, work_url)
    engine = make_engine(work_url)
    try:
        with make_sessionmaker(engine)() as session:
            generation = {"max_new_tokens": 4, "batch_sequences": 4}
            ps = make_generation_set(session, prompts=prompts, generation=generation)
            generation_service.start_generation(
                session, prompt_set_id=ps.id, created_by_id=None, app_settings=app_settings
            )
        worker, sizes = Worker(engine, app_settings), []
        while (claim := worker.claim()) is not None:
            sizes.append(len(claim.task_ids))
        assert sizes == claims
    finally:
        engine.dispose()
