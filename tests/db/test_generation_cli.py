"""`ranklab generate`, `ranklab demo` and `ranklab serve`'s in-process worker, as real
processes. Generation goes through the openai backend against a local chat server, so
these need no model."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from app.core.db import make_engine, make_sessionmaker
from app.demo_prompts import DEMO_PROMPTS, DEMO_SET_NAME
from app.generation.models import GenerationJob
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from tests.factories.accounts import make_token, make_user
from tests.factories.generation import make_generation_set
from tests.support.openai_server import ChatServer
from tests.support.server import ranklab_env, run_cli, start_server

OPENAI = {"backend": "openai", "max_new_tokens": 16}


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    server = ChatServer().start()
    yield server
    server.stop()


def _env(tmp_path: Path, chat: ChatServer, **extra: str) -> dict[str, str]:
    return ranklab_env(
        tmp_path / "data",
        RANKLAB_OPENAI_BASE_URL=chat.base_url,
        RANKLAB_OPENAI_MODEL="tiny-chat",
        **extra,
    )


def _sessionmaker(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'ranklab.db'}")
    return engine, make_sessionmaker(engine)


def test_generate_wait_runs_the_job_to_the_end_with_a_progress_bar(tmp_path, chat_server) -> None:
    env = _env(tmp_path, chat_server)
    assert run_cli(["db", "upgrade"], env).returncode == 0
    engine, sessions = _sessionmaker(tmp_path)
    try:
        with sessions() as session:
            make_generation_set(session, prompts=4, candidates=2, generation=OPENAI, name="faq")

        result = run_cli(["generate", "--prompt-set", "faq", "--wait"], env)

        assert result.returncode == 0, result.stderr
        assert "generation job #1: 4 prompts queued" in result.stdout
        assert "job #1 done: 4 done, 0 failed" in result.stdout
        assert "4/4" in result.stderr  # tqdm's bar
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Candidate)) == 8
    finally:
        engine.dispose()


def test_generate_explains_what_is_wrong(tmp_path, chat_server) -> None:
    env = _env(tmp_path, chat_server)
    assert run_cli(["db", "upgrade"], env).returncode == 0
    missing = run_cli(["generate", "--prompt-set", "nope"], env)
    assert missing.returncode == 2 and "No prompt set named 'nope'" in missing.stderr
    engine, sessions = _sessionmaker(tmp_path)
    try:
        with sessions() as session:
            make_generation_set(session, prompts=1, generation={"backend": "vllm"}, name="bad")
    finally:
        engine.dispose()
    bad = run_cli(["generate", "--prompt-set", "bad"], env)
    assert bad.returncode == 2
    assert (
        "generation.backend: unknown backend 'vllm'; use one of: transformers, openai" in bad.stderr
    )


def test_demo_seeds_a_prompt_set_and_queues_generation_once(tmp_path) -> None:
    env = ranklab_env(tmp_path / "data")
    first = run_cli(["demo"], env)
    second = run_cli(["demo"], env)

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "admin       password: " in first.stdout and "annotator   password: " in second.stdout
    assert f"generation job #1 queued for {len(DEMO_PROMPTS)} prompts" in first.stdout
    engine, sessions = _sessionmaker(tmp_path)
    try:
        with sessions() as session:
            ps = session.scalars(select(PromptSet).where(PromptSet.name == DEMO_SET_NAME)).one()
            assert ps.candidates_per_prompt == 4 and ps.system_prompt
            prompts = session.scalars(select(Prompt).where(Prompt.prompt_set_id == ps.id)).all()
            assert len(prompts) == len(DEMO_PROMPTS) >= 20
            assert sum(p.messages is not None for p in prompts) == 1
            assert len({p.meta["category"] for p in prompts}) >= 5
            assert session.scalar(select(func.count()).select_from(GenerationJob)) == 1
    finally:
        engine.dispose()


def test_serve_runs_an_in_process_worker_and_stops_it_cleanly(tmp_path, chat_server) -> None:
    env = _env(tmp_path, chat_server, RANKLAB_RUN_WORKER_IN_PROCESS="true")
    assert run_cli(["db", "upgrade"], env).returncode == 0
    engine, sessions = _sessionmaker(tmp_path)
    try:
        with sessions() as session:
            ps = make_generation_set(session, prompts=3, candidates=2, generation=OPENAI)
            token = make_token(session, make_user(session, role="admin"))
    finally:
        engine.dispose()
    server = start_server(env, tmp_path / "server.log")
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as http:
            job = http.post(f"/api/v1/prompt-sets/{ps.id}/generation-jobs").json()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                progress = http.get(f"/api/v1/generation-jobs/{job['id']}").json()
                if progress["status"] not in ("queued", "running"):
                    break
                time.sleep(0.3)
            assert (progress["status"], progress["done"]) == ("done", 3), progress
            page = http.get(f"/api/v1/prompt-sets/{ps.id}/prompts?include=candidates").json()
            assert all(len(p["candidates"]) == 2 for p in page["items"])
    finally:
        server.stop()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it (hence -15).
    log = server.log()
    assert "Finished server process" in log and "Traceback" not in log
    assert "in-process generation worker" in log and "stopped" in log
