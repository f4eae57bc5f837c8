"""Generation with the real SmolLM2 file: end to end, cache, kill -9 and resume, two workers.

The converted model is cached in pytest's cache folder (.pytest_cache/d/ranklab-models),
so only the first run on a machine pays the ~20 s GGUF conversion; the model is loaded
once per test session and shared by the in-process workers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.generation import service as generation_service
from app.generation.backends.transformers import loaded_model, pick_dtype
from app.generation.model_cache import cache_folder, load_model
from app.generation.model_files import BUNDLED_MODEL_NAME, resolve_model
from app.generation.models import GenerationJob, GenerationTask
from app.generation.worker import Worker
from app.prompt_sets.models import Candidate, Prompt
from tests.factories.generation import make_generation_set
from tests.support import databases
from tests.support.server import ROOT, ranklab_env

pytestmark = pytest.mark.model
TINY = {"max_new_tokens": 12, "temperature": [0.7, 1.0, 0.9]}


@pytest.fixture(scope="session")
def model_home(request: pytest.FixtureRequest) -> Path:
    """A data folder whose models/ holds the converted SmolLM2 (kept between runs)."""
    home = Path(request.config.cache.mkdir("ranklab-models"))
    loaded_model("smollm2", home / "models", pick_dtype("auto"))  # once per test session
    return home


def _settings(home: Path, url: str, **kw) -> Settings:
    return Settings(
        data_dir=home, database_url=url, secret_key="x" * 48, generation_threads=1, **kw
    )


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _job(engine, job_id: int) -> GenerationJob:
    with make_sessionmaker(engine)() as session:
        return session.get(GenerationJob, job_id)


def _candidate_counts(engine) -> dict[int, list[int]]:
    with make_sessionmaker(engine)() as session:
        out: dict[int, list[int]] = {p: [] for p in session.scalars(select(Prompt.id))}
        for pid, pos in session.execute(select(Candidate.prompt_id, Candidate.position)):
            out[pid].append(pos)
        return {pid: sorted(v) for pid, v in out.items()}


def test_a_small_set_gets_n_distinct_candidates_with_metadata(model_home, tmp_path) -> None:
    url = databases.migrated(databases.sqlite_url(tmp_path / "gen.db"))
    app_settings = _settings(model_home, url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            ps = make_generation_set(
                session,
                prompts=2,
                candidates=3,
                with_chat=True,
                generation=TINY,
                system_prompt="You answer in one short sentence.",
            )
            job = generation_service.start_generation(
                session, prompt_set_id=ps.id, created_by_id=None, app_settings=app_settings
            )
        Worker(engine, app_settings).run(threading.Event(), until_idle=True)

        job = _job(engine, job.id)
        assert (job.status, job.done, job.failed) == ("done", 3, 0)
        assert job.tokens_generated > 0 and job.tokens_per_second > 0
        with make_sessionmaker(engine)() as session:
            prompts = session.scalars(select(Prompt)).all()
            assert all(p.candidates_ready for p in prompts)
            for prompt in prompts:
                cands = session.scalars(
                    select(Candidate)
                    .where(Candidate.prompt_id == prompt.id)
                    .order_by(Candidate.position)
                ).all()
                assert [c.position for c in cands] == [0, 1, 2]
                assert all(c.text.strip() for c in cands)
                distinct = {c.text for c in cands if not c.is_duplicate}
                assert len(distinct) == len(cands) - sum(c.is_duplicate for c in cands) >= 2
                assert len({c.seed for c in cands}) == 3
                for c in cands:
                    assert c.model == BUNDLED_MODEL_NAME and c.source == "generated"
                    assert c.sampling == {
                        "backend": "transformers",
                        "temperature": TINY["temperature"][c.position],
                        "top_p": 0.95,
                        "max_new_tokens": 12,
                    }
                    assert c.prompt_tokens > 10 and 1 <= c.completion_tokens <= 12
                    assert c.latency_ms > 0
    finally:
        engine.dispose()


def test_the_chat_template_carries_the_system_prompt_and_every_turn(model_home) -> None:
    _lm, tokenizer, _src, _info = loaded_model("smollm2", model_home / "models", pick_dtype("auto"))
    from app.generation.backends.transformers import TransformersBackend
    from app.generation.config import JobSettings

    backend = TransformersBackend(_lm, tokenizer, "m", JobSettings())
    text = backend.render(
        [
            {"role": "system", "content": "SYSTEM-X"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": "second"},
        ]
    )
    assert text.index("SYSTEM-X") < text.index("first") < text.index("reply") < text.index("second")
    assert text.rstrip().endswith("assistant")


def test_the_converted_model_is_cached_by_file_hash(model_home) -> None:
    folder = cache_folder(resolve_model("smollm2"), model_home / "models")
    assert folder is not None and (folder / "model.safetensors").exists()
    assert folder.name.startswith("SmolLM2-135M-Instruct.Q4_1-")
    _lm, _tok, _src, info = load_model("smollm2", model_home / "models")
    assert info["cached"] is True


def _worker_process(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "app", "worker", "--poll", "0.2"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_a_killed_worker_is_resumed_by_another_without_duplicates(
    model_home, fresh_postgres_url, tmp_path
) -> None:
    app_settings = _settings(model_home, fresh_postgres_url)
    engine = make_engine(fresh_postgres_url)
    env = ranklab_env(
        model_home,
        fresh_postgres_url,
        RANKLAB_WORKER_STALE_SECONDS="3",
        RANKLAB_WORKER_HEARTBEAT_SECONDS="0.5",
        RANKLAB_GENERATION_THREADS="1",
        RANKLAB_SECRET_KEY="x" * 48,
    )
    first = second = None
    try:
        with make_sessionmaker(engine)() as session:
            ps = make_generation_set(
                session, prompts=6, candidates=2, generation={**TINY, "batch_sequences": 2}
            )
            job = generation_service.start_generation(
                session, prompt_set_id=ps.id, created_by_id=None, app_settings=app_settings
            )
        first = _worker_process(env, tmp_path / "first.log")
        _wait_for(
            lambda: _job(engine, job.id).done >= 2, 120, "the first worker to finish 2 prompts"
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        done_at_kill = _job(engine, job.id).done
        assert done_at_kill < 6, "the job finished before the kill; nothing was resumed"

        second = _worker_process(env, tmp_path / "second.log")
        _wait_for(lambda: _job(engine, job.id).status == "done", 120, "the second worker to finish")

        assert _candidate_counts(engine) == {pid: [0, 1] for pid in _candidate_counts(engine)}
        with make_sessionmaker(engine)() as session:
            assert session.scalar(select(func.count()).select_from(Candidate)) == 12
            workers = set(session.scalars(select(GenerationTask.worker_id)))
            assert len(workers) == 2  # both processes finished some prompts
        assert _job(engine, job.id).done == 6
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        engine.dispose()


def test_two_workers_on_one_job_never_generate_a_prompt_twice(
    model_home, fresh_postgres_url
) -> None:
    app_settings = _settings(model_home, fresh_postgres_url)
    engine = make_engine(fresh_postgres_url)
    stop = threading.Event()
    try:
        with make_sessionmaker(engine)() as session:
            # One row per batch: a claim is 2 prompts (4 batches of 1 row, 2 candidates
            # each), so the 8 prompts take four claims the two workers share.
            ps = make_generation_set(
                session, prompts=8, candidates=2, generation={**TINY, "batch_sequences": 1}
            )
            job = generation_service.start_generation(
                session, prompt_set_id=ps.id, created_by_id=None, app_settings=app_settings
            )
        workers = [Worker(engine, app_settings, poll_seconds=0.1) for _ in range(2)]
        threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
        for t in threads:
            t.start()
        _wait_for(lambda: _job(engine, job.id).status == "done", 150, "the job to finish")
        stop.set()
        for t in threads:
            t.join(timeout=60)

        with make_sessionmaker(engine)() as session:
            tasks = session.scalars(
                select(GenerationTask).where(GenerationTask.job_id == job.id)
            ).all()
            assert len(tasks) == 8 and {t.status for t in tasks} == {"done"}
            assert {t.attempts for t in tasks} == {1}  # each prompt claimed exactly once
            assert {t.worker_id for t in tasks} == {w.worker_id for w in workers}
        assert _candidate_counts(engine) == {pid: [0, 1] for pid in _candidate_counts(engine)}
    finally:
        stop.set()
        engine.dispose()
