"""The job path with the real SmolLM2 file: refilled batches, mixed prompt lengths, shared
calls of same-model generators, the idle unload and the in-process worker's threads."""

from __future__ import annotations

import os
import threading
from collections import Counter

import pytest
from sqlalchemy import select

from app.cli import quiet_openmp
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.generation import service as generation_service
from app.generation.backends import CandidateSpec, PromptRequest
from app.generation.backends import transformers as local
from app.generation.claim import Claim
from app.generation.config import JobSettings
from app.generation.models import GenerationJob
from app.generation.worker import NICE, Worker, in_process_settings, shared_calls, start_in_thread
from app.prompt_sets.models import Candidate, Prompt
from tests.db.test_generation_model import _settings, _wait_for, model_home  # noqa: F401 (fixture)
from tests.factories.generation import make_generation_set
from tests.factories.prompt_sets import make_prompt
from tests.support import databases

pytestmark = pytest.mark.model
CONTEXT = "Some background you may ignore: the weather was mild and the market was busy. "


def _mixed(i: int) -> str:
    """Prompts from a few tokens to a few hundred."""
    return CONTEXT * (i * 5 % 17) + f"Name one thing that is {['red', 'blue', 'green'][i % 3]}."


def test_a_mixed_length_job_with_refilled_batches_makes_every_candidate_once(
    model_home,  # noqa: F811
    tmp_path,
) -> None:
    url = databases.migrated(databases.sqlite_url(tmp_path / "mixed.db"))
    app_settings = _settings(model_home, url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            # 3 rows per batch for 7 prompts x 3 candidates: rows are refilled many times.
            generation = {"max_new_tokens": 10, "batch_sequences": 3, "temperature": 0.9}
            ps = make_generation_set(session, prompts=0, candidates=3, generation=generation)
            for i in range(7):
                make_prompt(session, ps, text=_mixed(i), candidates=None)
            session.commit()
            job = generation_service.start_generation(
                session, prompt_set_id=ps.id, created_by_id=None, app_settings=app_settings
            )
        Worker(engine, app_settings).run(threading.Event(), until_idle=True)
        with make_sessionmaker(engine)() as session:
            done = session.get(GenerationJob, job.id)
            assert (done.status, done.done, done.failed) == ("done", 7, 0), done.error
            rows = session.execute(
                select(Candidate.prompt_id, Candidate.position, Candidate.completion_tokens)
            ).all()
            prompt_ids = set(session.scalars(select(Prompt.id)))
        assert Counter((r.prompt_id, r.position) for r in rows) == {
            (pid, pos): 1 for pid in prompt_ids for pos in range(3)
        }
        assert all(1 <= r.completion_tokens <= 10 for r in rows)
        assert done.tokens_generated == sum(r.completion_tokens for r in rows)
    finally:
        engine.dispose()


def test_refilled_rows_answer_their_own_prompt(model_home) -> None:  # noqa: F811
    """Greedy rows decoded two at a time, with refills, give the same text as each prompt
    generated alone by transformers' own `generate` (both candidates of a prompt)."""
    import torch

    lm, tokenizer, _source, _info = local.loaded_model(
        "smollm2", model_home / "models", local.pick_dtype("auto")
    )
    gen = JobSettings(model="smollm2", max_new_tokens=12, batch_sequences=2, temperature=0.0)
    backend = local.TransformersBackend(lm, tokenizer, "smollm2", gen)
    requests = [
        PromptRequest(
            i,
            [{"role": "user", "content": _mixed(i)}],
            [CandidateSpec(0, i, 0.0), CandidateSpec(1, i + 100, 0.0)],  # one shared prefill
        )
        for i in range(5)
    ]
    results = backend.generate(requests)
    assert backend.decoder is not None and max(backend.decoder.widths) == 2
    for request, result in zip(requests, results, strict=True):
        prompt = backend.render(request.messages)
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = lm.generate(
                **ids, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        alone = tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        assert result.key == request.key
        assert [o.text for o in result.outputs] == [alone.strip()] * 2


def test_generators_differing_only_in_sampling_share_a_call() -> None:
    def model(temperature: float, **kw) -> dict:
        return {
            "competes": True,
            "settings": JobSettings(temperature=temperature, **kw).model_dump(),
        }

    claim = Claim(
        1,
        JobSettings(),
        [],
        {},
        generators={
            "cool": model(0.3),
            "warm": model(1.2, system_prompt="Be brief."),
            "long": model(0.3, max_new_tokens=99),
            "team": {"competes": True, "pipeline": {"recipe": "draft_critique_revise"}},
        },
    )
    assert shared_calls(claim, ["cool", "warm", "long", "team"]) == [
        ["cool", "warm"],
        ["long"],
        ["team"],
    ]


def test_an_idle_worker_releases_the_model(model_home, tmp_path) -> None:  # noqa: F811
    url = databases.migrated(databases.sqlite_url(tmp_path / "idle.db"))
    app_settings = _settings(model_home, url, generation_idle_unload_seconds=60)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            ps = make_generation_set(session, prompts=1, generation={"max_new_tokens": 4})
            generation_service.start_generation(
                session, prompt_set_id=ps.id, created_by_id=None, app_settings=app_settings
            )
        worker = Worker(engine, app_settings)
        assert worker.run_once()
        assert local._models and worker._backends
        assert not worker.unload_if_idle()  # just worked: kept
        worker._last_batch -= 61  # a minute without work, without waiting one
        assert worker.unload_if_idle()
        assert not local._models and not worker._backends
    finally:
        engine.dispose()


def test_the_in_process_worker_leaves_a_core_and_openmp_waits_passively(
    model_home,  # noqa: F811
    tmp_path,
    monkeypatch,
) -> None:
    import torch

    def settings(threads: int) -> Settings:
        url = databases.sqlite_url(tmp_path / "threads.db")
        return Settings(
            data_dir=model_home, database_url=url, secret_key="x" * 48, generation_threads=threads
        )

    threads = max(1, (os.cpu_count() or 1) - 1)
    own = in_process_settings(settings(0))
    assert own.generation_threads == threads
    assert in_process_settings(settings(3)).generation_threads == 3  # an explicit count stays
    before = torch.get_num_threads()
    try:
        local.load_transformers_backend(JobSettings(model="smollm2"), own)
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    quiet_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    quiet_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_in_process_worker_thread_runs_below_the_web_app(tmp_path, model_home) -> None:  # noqa: F811
    url = databases.migrated(databases.sqlite_url(tmp_path / "nice.db"))
    engine = make_engine(url)
    stop = start_in_thread(engine, _settings(model_home, url))
    try:
        thread = next(t for t in threading.enumerate() if t.name == "ranklab-worker")
        web = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        _wait_for(
            lambda: os.getpriority(os.PRIO_PROCESS, thread.native_id) == min(web + NICE, 19),
            10,
            "the worker thread's lower priority",
        )
    finally:
        stop()
        engine.dispose()
