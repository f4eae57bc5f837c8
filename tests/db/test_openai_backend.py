"""The openai backend against a real HTTP server on 127.0.0.1 speaking chat completions,
alone and through the worker and a real database (both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.generation import jobs
from app.generation import service as generation_service
from app.generation.backends import CandidateSpec, PromptRequest
from app.generation.backends.openai import OpenAIBackend
from app.generation.config import JobSettings
from app.generation.errors import BackendUnavailable
from app.generation.models import GenerationJob, GenerationTask
from app.generation.worker import Worker
from app.prompt_sets.models import Candidate
from tests.factories.generation import make_generation_set
from tests.support import databases
from tests.support.openai_server import ChatServer
from tests.support.server import free_port


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    server = ChatServer().start()
    yield server
    server.stop()


def _backend(base_url: str, **kw) -> OpenAIBackend:
    gen = JobSettings(backend="openai", model="tiny-chat", base_url=base_url, max_new_tokens=32)
    kw.setdefault("backoff_seconds", 0.01)
    return OpenAIBackend(base_url=base_url, model_name="tiny-chat", gen=gen, **kw)


def _request(n: int = 3, temperatures: list[float] | None = None) -> PromptRequest:
    temps = temperatures or [0.8] * n
    return PromptRequest(
        7,
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}],
        [CandidateSpec(i, 100 + i, temps[i]) for i in range(n)],
    )


def test_one_request_returns_n_candidates_with_metadata(chat_server: ChatServer) -> None:
    [result] = _backend(chat_server.base_url, api_key="sk-test").generate([_request(3)])

    assert result.error is None and [o.position for o in result.outputs] == [0, 1, 2]
    assert len({o.text for o in result.outputs}) == 3
    [sent] = chat_server.requests
    assert (sent["n"], sent["model"], sent["max_tokens"], sent["seed"]) == (3, "tiny-chat", 32, 100)
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["_auth"] == "Bearer sk-test"
    assert all(o.prompt_tokens == 11 and o.latency_ms > 0 for o in result.outputs)


def test_a_temperature_per_candidate_means_a_request_per_temperature(
    chat_server: ChatServer,
) -> None:
    [result] = _backend(chat_server.base_url).generate([_request(3, [0.5, 1.0, 0.5])])
    assert sorted((r["temperature"], r["n"]) for r in chat_server.requests) == [(0.5, 2), (1.0, 1)]
    assert [o.temperature for o in result.outputs] == [0.5, 1.0, 0.5]
    assert result.outputs[1].seed == 101  # alone in its request: the seed is its own


def test_each_output_keeps_why_the_server_stopped(chat_server: ChatServer) -> None:
    chat_server.script = [("cut", "A > B"), "ok"]  # the first stopped at max_tokens
    results = _backend(chat_server.base_url, concurrency=1).generate([_request(1), _request(1)])
    assert [r.outputs[0].finish_reason for r in results] == ["length", "stop"]


def test_servers_that_ignore_n_are_asked_again(chat_server: ChatServer) -> None:
    chat_server.default = "ignore_n"
    [result] = _backend(chat_server.base_url).generate([_request(3)])
    assert len(result.outputs) == 3 and len(chat_server.requests) == 3
    assert all(o.completion_tokens == 7 for o in result.outputs)


def test_server_errors_are_retried_with_backoff(chat_server: ChatServer) -> None:
    chat_server.script = [("status", 503, "overloaded"), ("status", 429, "slow down")]
    [result] = _backend(chat_server.base_url).generate([_request(2)])
    assert result.error is None and len(result.outputs) == 2
    assert len(chat_server.requests) == 3


def test_a_client_error_fails_the_prompt_with_the_servers_message(chat_server: ChatServer) -> None:
    chat_server.default = ("status", 400, "model 'tiny-chat' not found")
    [result] = _backend(chat_server.base_url).generate([_request(2)])
    assert result.outputs == [] and len(chat_server.requests) == 1
    assert "HTTP 400: model 'tiny-chat' not found" in result.error


def test_a_timeout_is_retried_then_reported(chat_server: ChatServer) -> None:
    chat_server.default = ("sleep", 0.6)
    backend = _backend(chat_server.base_url, timeout_seconds=0.15, max_retries=1)
    [result] = backend.generate([_request(1)])
    assert result.error is not None and "timed out after 0.15s" in result.error
    assert len(chat_server.requests) == 2


def test_an_unreachable_server_is_a_clear_backend_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendUnavailable, match=r"unreachable .*RANKLAB_OPENAI_BASE_URL"):
        _backend(url, max_retries=1).generate([_request(1)])


@pytest.fixture(params=["sqlite", "postgresql"])
def work_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database the worker's own sessions commit to for real."""
    if request.param == "sqlite":
        return databases.migrated(databases.sqlite_url(tmp_path / "work.db"))
    return request.getfixturevalue("fresh_postgres_url")


def _app_settings(tmp_path: Path, url: str, base_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        secret_key="x" * 48,
        openai_base_url=base_url,
        openai_model="tiny-chat",
        openai_concurrency=2,
        openai_timeout_seconds=2,
    )


@pytest.fixture
def work_engine(work_url: str) -> Iterator[Engine]:
    engine = make_engine(work_url)
    yield engine
    engine.dispose()


def _queue_openai_job(engine: Engine, app_settings: Settings, **set_fields: Any) -> int:
    """A prompt set on the openai backend and a queued job for it; returns the job id."""
    set_fields.setdefault("prompts", 2)
    set_fields.setdefault("generation", {"backend": "openai", "max_new_tokens": 16})
    with make_sessionmaker(engine)() as session:
        ps = make_generation_set(session, **set_fields)
        job = generation_service.start_generation(
            session, prompt_set_id=ps.id, created_by_id=None, app_settings=app_settings
        )
        return job.id


def _run_until_idle(worker: Worker) -> None:
    while worker.run_once():
        pass


def test_worker_generates_a_job_through_the_openai_backend(
    chat_server: ChatServer, work_url: str, work_engine: Engine, tmp_path: Path
) -> None:
    app_settings = _app_settings(tmp_path, work_url, chat_server.base_url)
    job_id = _queue_openai_job(
        work_engine,
        app_settings,
        prompts=5,
        candidates=3,
        with_chat=True,
        system_prompt="Answer in English.",
    )
    _run_until_idle(Worker(work_engine, app_settings, poll_seconds=0.05))
    with make_sessionmaker(work_engine)() as session:
        job = session.get(GenerationJob, job_id)
        assert (job.status, job.done, job.failed, job.total) == ("done", 6, 0, 6)
        rows = session.scalars(
            select(Candidate).order_by(Candidate.prompt_id, Candidate.position)
        ).all()
        assert len(rows) == 18
        assert {c.model for c in rows} == {"tiny-chat"}
        assert rows[0].sampling == {
            "backend": "openai",
            "temperature": 0.8,
            "top_p": 0.95,
            "max_new_tokens": 16,
        }
    assert all(r["messages"][0]["content"] == "Answer in English." for r in chat_server.requests)
    assert any(len(r["messages"]) == 4 for r in chat_server.requests)  # system + 3-turn chat


def test_failed_prompts_are_retried_a_bounded_number_of_times_then_recorded(
    chat_server: ChatServer, work_url: str, work_engine: Engine, tmp_path: Path
) -> None:
    chat_server.default = ("status", 400, "context length exceeded")
    app_settings = _app_settings(tmp_path, work_url, chat_server.base_url)
    job_id = _queue_openai_job(work_engine, app_settings)
    _run_until_idle(Worker(work_engine, app_settings, max_attempts=2))
    with make_sessionmaker(work_engine)() as session:
        job = session.get(GenerationJob, job_id)
        assert (job.status, job.done, job.failed) == ("failed", 0, 2)
        assert job.error == "2 of 2 prompts failed after 2 attempts."
        tasks = session.scalars(select(GenerationTask).where(GenerationTask.job_id == job_id)).all()
        assert {t.attempts for t in tasks} == {2}
        assert all("context length exceeded" in t.error for t in tasks)
        errors = jobs.recent_task_errors(session, job_id)
        assert len(errors) == 2 and errors[0]["status"] == "failed"
    assert len(chat_server.requests) == 4


def test_an_unreachable_base_url_fails_the_job_with_a_clear_message(
    work_url: str, work_engine: Engine, tmp_path: Path
) -> None:
    app_settings = _app_settings(tmp_path, work_url, f"http://127.0.0.1:{free_port()}/v1")
    job_id = _queue_openai_job(work_engine, app_settings)
    # Connection refused, retried with backoff, then fatal for the whole job.
    _run_until_idle(Worker(work_engine, app_settings))
    with make_sessionmaker(work_engine)() as session:
        job = session.get(GenerationJob, job_id)
        assert job.status == "failed"
        assert "is unreachable" in job.error and "RANKLAB_OPENAI_BASE_URL" in job.error


def test_a_cancelled_job_is_not_picked_up(
    chat_server: ChatServer, work_url: str, work_engine: Engine, tmp_path: Path
) -> None:
    app_settings = _app_settings(tmp_path, work_url, chat_server.base_url)
    job_id = _queue_openai_job(work_engine, app_settings)
    with make_sessionmaker(work_engine)() as session:
        generation_service.cancel_generation(session, job_id=job_id)
    assert Worker(work_engine, app_settings).run_once() is False
    assert chat_server.requests == []
