"""Several generators per prompt set, through the local OpenAI-compatible server: shares
per prompt, pipelines with transcripts, resuming a pipeline after kill -9, and editing
the generators later. No model needed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.generation.models import GenerationJob, GenerationTask
from app.generation.worker import Worker
from app.prompt_sets.models import Candidate
from tests.db import test_openai_backend as openai_tests
from tests.support.server import ROOT, ranklab_env, run_cli

# The openai backend tests' fixtures: a local chat server and fresh databases on both backends.
chat_server = openai_tests.chat_server
work_url = openai_tests.work_url
work_engine = openai_tests.work_engine
OPENAI = {"backend": "openai", "max_new_tokens": 16}
TWO_TEMPERATURES = [
    {"name": "cool", "settings": {**OPENAI, "temperature": 0.2}},
    {"name": "warm", "settings": {**OPENAI, "temperature": 1.2}},
]
DRAFT_CRITIQUE_REVISE = [
    {"name": "solo", "settings": {**OPENAI, "temperature": 0.7}},
    {"name": "critic", "competes": False, "settings": {**OPENAI, "temperature": 0.3}},
    {
        "name": "team",
        "pipeline": {"recipe": "draft_critique_revise", "drafter": "solo", "critic": "critic"},
    },
]

PIPELINE_ONLY = [DRAFT_CRITIQUE_REVISE[0] | {"competes": False}, *DRAFT_CRITIQUE_REVISE[1:]]


def _settings(tmp_path: Path, url: str, base_url: str, **kw: Any) -> Settings:
    return openai_tests._app_settings(tmp_path, url, base_url).model_copy(update=kw)


def _queue(engine: Engine, app_settings: Settings, generators: list[dict], **fields: Any) -> int:
    return openai_tests._queue_openai_job(engine, app_settings, generators=generators, **fields)


def _candidates(engine: Engine) -> list[Candidate]:
    with make_sessionmaker(engine)() as session:
        return list(
            session.scalars(select(Candidate).order_by(Candidate.prompt_id, Candidate.position))
        )


def test_two_generators_share_every_prompt_evenly(chat_server, work_url, work_engine, tmp_path):
    app_settings = _settings(tmp_path, work_url, chat_server.base_url)
    job_id = _queue(work_engine, app_settings, TWO_TEMPERATURES, prompts=5, candidates=4)
    openai_tests._run_until_idle(Worker(work_engine, app_settings))

    rows = _candidates(work_engine)
    assert len(rows) == 20
    per_prompt: dict[int, Counter[str]] = {}
    for c in rows:
        per_prompt.setdefault(c.prompt_id, Counter())[c.generator] += 1
        assert c.sampling["temperature"] == {"cool": 0.2, "warm": 1.2}[c.generator]
        assert c.transcript is None
    assert all(counts == {"cool": 2, "warm": 2} for counts in per_prompt.values())
    with make_sessionmaker(work_engine)() as session:
        job = session.get(GenerationJob, job_id)
        assert (job.status, job.done) == ("done", 5)
        assert set(job.generators) == {"cool", "warm"}
    # One request per prompt and generator: the openai backend asks for both candidates
    # of a generator in one call (n=2), so generators are batched, not interleaved.
    assert len(chat_server.requests) == 10
    assert Counter(r["temperature"] for r in chat_server.requests) == {0.2: 5, 1.2: 5}


def test_draft_critique_revise_keeps_the_transcript(chat_server, work_url, work_engine, tmp_path):
    app_settings = _settings(tmp_path, work_url, chat_server.base_url)
    _queue(work_engine, app_settings, DRAFT_CRITIQUE_REVISE, prompts=3, candidates=2)
    openai_tests._run_until_idle(Worker(work_engine, app_settings))

    rows = _candidates(work_engine)
    assert len(rows) == 6
    assert Counter(c.generator for c in rows) == {"solo": 3, "team": 3}  # critic: agent only
    for c in rows:
        if c.generator != "team":
            continue
        roles = [(s["role"], s["agent"]) for s in c.transcript]
        assert roles == [("draft", "solo"), ("critique", "critic"), ("revise", "solo")]
        assert c.text == c.transcript[-1]["text"]
        assert c.model == "draft_critique_revise(solo, critic)"
        assert c.sampling == {
            "pipeline": DRAFT_CRITIQUE_REVISE[2]["pipeline"] | {"members": [], "merger": None}
        }
    asks = [r["messages"][-1]["content"] for r in chat_server.requests]
    assert sum(a.startswith("Here is a question and an answer") for a in asks) == 3
    assert sum(a.startswith("A reviewer commented") for a in asks) == 3


def test_ensemble_merge_merges_every_members_answer(chat_server, work_url, work_engine, tmp_path):
    generators = [
        {"name": "a", "competes": False, "settings": {**OPENAI, "temperature": 0.1}},
        {"name": "b", "competes": False, "settings": {**OPENAI, "temperature": 0.9}},
        {
            "name": "merge",
            "pipeline": {"recipe": "ensemble_merge", "members": ["a", "b"], "merger": "a"},
        },
    ]
    app_settings = _settings(tmp_path, work_url, chat_server.base_url)
    _queue(work_engine, app_settings, generators, prompts=2, candidates=2)
    openai_tests._run_until_idle(Worker(work_engine, app_settings))

    rows = _candidates(work_engine)
    assert len(rows) == 4 and {c.generator for c in rows} == {"merge"}
    for c in rows:
        assert [s["role"] for s in c.transcript] == ["answer", "answer", "merge"]
    merges = [
        r for r in chat_server.requests if r["messages"][-1]["content"].startswith("Question:")
    ]
    assert len(merges) == 4
    assert all("Answer 1:" in m["messages"][-1]["content"] for m in merges)


def test_a_failing_pipeline_step_fails_the_prompt_with_the_reason(
    chat_server, work_url, work_engine, tmp_path
):
    app_settings = _settings(tmp_path, work_url, chat_server.base_url)
    chat_server.default = ("status", 400, "bad request from the critic")
    job_id = _queue(work_engine, app_settings, PIPELINE_ONLY, prompts=1, candidates=2)
    openai_tests._run_until_idle(Worker(work_engine, app_settings, max_attempts=2))
    assert _candidates(work_engine) == []  # nothing half-made
    with make_sessionmaker(work_engine)() as session:
        job = session.get(GenerationJob, job_id)
        task = session.scalars(select(GenerationTask).where(GenerationTask.job_id == job_id)).one()
        assert (job.status, job.failed) == ("failed", 1)
        assert "draft by solo" in task.error and "bad request from the critic" in task.error


def test_a_worker_killed_mid_pipeline_resumes_without_redoing_steps(chat_server, tmp_path):
    """kill -9 after the drafts and critiques are committed: a new worker makes only the
    revisions, and every prompt ends with exactly its candidates."""
    env = ranklab_env(
        tmp_path / "data",
        RANKLAB_OPENAI_BASE_URL=chat_server.base_url,
        RANKLAB_OPENAI_MODEL="tiny-chat",
        RANKLAB_WORKER_HEARTBEAT_SECONDS="60",
    )
    assert run_cli(["db", "upgrade"], env).returncode == 0
    url = f"sqlite:///{tmp_path / 'data' / 'ranklab.db'}"
    engine = make_engine(url)
    app_settings = _settings(tmp_path, url, chat_server.base_url, worker_stale_seconds=1)
    try:
        job_id = _queue(engine, app_settings, PIPELINE_ONLY, prompts=3, candidates=2)
        # Drafts and critiques (2 x 6 calls) answer at once; the revisions hang.
        chat_server.script = ["ok"] * 12 + [("sleep", 60)] * 6
        worker = subprocess.Popen(
            [sys.executable, "-m", "app", "worker"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(chat_server.requests) < 13:
                time.sleep(0.1)
            assert len(chat_server.requests) >= 13, "the worker never reached the revisions"
            time.sleep(0.5)
        finally:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
        with make_sessionmaker(engine)() as session:
            tasks = session.scalars(
                select(GenerationTask).where(GenerationTask.job_id == job_id)
            ).all()
            saved = {t.prompt_id: t.steps for t in tasks}
        assert all(len(s) == 2 and all(len(v) == 2 for v in s.values()) for s in saved.values())
        assert _candidates(engine) == []

        chat_server.script = []
        before = len(chat_server.requests)
        time.sleep(1.2)  # the dead worker's claims go stale
        openai_tests._run_until_idle(Worker(engine, app_settings))

        rows = _candidates(engine)
        assert len(rows) == 6
        assert Counter(c.prompt_id for c in rows) == Counter({pid: 2 for pid in saved})
        for c in rows:
            kept = saved[c.prompt_id][f"team/{c.position}"]
            assert c.transcript[:2] == kept  # resumed, not redone
            assert c.transcript[2]["role"] == "revise"
        fresh = [r["messages"][-1]["content"] for r in chat_server.requests[before:]]
        assert len(fresh) == 6 and all(a.startswith("A reviewer commented") for a in fresh)
        with make_sessionmaker(engine)() as session:
            job = session.get(GenerationJob, job_id)
            assert (job.status, job.done, job.failed) == ("done", 3, 0)
    finally:
        engine.dispose()
