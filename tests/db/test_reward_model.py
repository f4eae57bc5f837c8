"""Reward models with the real SmolLM2 file: a fast version learns a clear signal and
reuses its embeddings, a full version trains a few steps and loads back with
from_pretrained, and a worker killed mid-training leaves the previous version active.

The converted model is cached in pytest's cache folder (shared with the generation model
tests), and the backbone is loaded once per test session: the workers here run in this
process and share it.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.generation.backends.transformers import loaded_model, pick_dtype
from app.main import create_app
from app.prompt_sets.models import Candidate, Prompt
from app.reward import service
from app.reward.models import CandidateEmbedding, CandidateScore, RewardModel
from app.reward.worker import RewardWorker
from tests.factories.accounts import make_token, make_user
from tests.factories.reward import make_ranked_set, make_scored_version
from tests.support import databases
from tests.support.server import ROOT, ranklab_env

pytestmark = pytest.mark.model


@pytest.fixture(scope="session")
def model_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models/ with the converted SmolLM2 (kept between runs when pytest's cache is on)."""
    cache = getattr(request.config, "cache", None)
    home = Path(cache.mkdir("ranklab-models")) if cache else tmp_path_factory.mktemp("models")
    loaded_model("smollm2", home / "models", pick_dtype("auto"))  # once per test session
    return home / "models"


def _data_dir(tmp_path: Path, model_cache: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(model_cache)
    return data


@pytest.fixture(params=["sqlite", "postgresql"])
def live_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of its own that workers and the test share by committing."""
    if request.param == "sqlite":
        yield databases.migrated(databases.sqlite_url(tmp_path / "rm.db"))
        return
    request.getfixturevalue("fresh_postgres_url")
    yield request.getfixturevalue("fresh_postgres_url")


def _settings(data_dir: Path, url: str, **kw) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=url,
        secret_key="x" * 48,
        reward_min_comparisons=20,
        generation_threads=1,
        run_worker_in_process=False,
        **kw,
    )


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


FAST = {"test_fraction": 0.3, "ensemble": 2, "batch_size": 16}


def test_a_fast_version_beats_chance_on_held_out_prompts_and_reuses_embeddings(
    model_cache, live_url, tmp_path
) -> None:
    settings = _settings(_data_dir(tmp_path, model_cache), live_url)
    engine = make_engine(live_url)
    sessions = make_sessionmaker(engine)
    worker = RewardWorker(engine, settings, "test-worker")
    try:
        with sessions() as session:
            ps = make_ranked_set(session, prompts=16)
            first = service.create_version(
                session,
                prompt_set_id=ps.id,
                options=FAST,
                created_by_id=None,
                app_settings=settings,
            )
        assert worker.run_once()
        with sessions() as session:
            v1 = service.load_version(session, first.id)
            assert v1.status == "done" and v1.is_active, v1.error
            test = v1.metrics["test"]
            assert test["accuracy"] > 0.6 and test["ci95"][0] > 0.5  # chance is 0.5
            # Two annotators per prompt (tests/factories/reward.py) agree on the 4 on/off
            # topic pairs and order the 2 within-kind pairs oppositely: agreement and the
            # other annotator's "majority" are both 4/6 on every test pair, the model's
            # pairs (each test prompt has its other annotator).
            human = v1.metrics["human"]
            assert human["inter_annotator_agreement"]["agreement"] == 0.6667
            assert human["majority_accuracy"]["accuracy"] == 0.6667
            assert human["majority_accuracy"]["pairs"] == test["pairs"]
            assert human["model_accuracy"]["accuracy"] == test["accuracy"]
            assert set(v1.metrics["baselines"]) == {"longer_answer_wins", "first_displayed_wins"}
            assert len(v1.metrics["learning_curve"]) >= 3
            assert v1.training_data["pairs"]["test"] > 0 and v1.training_data["annotations"] == 32
            assert service.score_count(session, v1.id) == 64
            assert session.scalar(select(func.count()).select_from(CandidateEmbedding)) == 64
            assert {"head.npz", "config.json", "README.md"} <= {
                p.name for p in Path(v1.artifact_path).iterdir()
            }
            second = service.create_version(
                session,
                prompt_set_id=ps.id,
                options=FAST,
                created_by_id=None,
                app_settings=settings,
            )
        assert worker.run_once()
        with sessions() as session:
            v2 = service.load_version(session, second.id)
            assert v2.status == "done", v2.error
            assert v2.metrics["timing"]["embedded"] == 0 and v2.metrics["timing"]["cached"] == 64
            assert session.scalar(select(func.count()).select_from(CandidateEmbedding)) == 64
            active = service.active_version(session, ps.id)
            assert active is not None and active.id == v2.id  # equal accuracy: not worse
            # A candidate generated or imported later is scored in the background.
            prompt = Prompt(
                prompt_set_id=ps.id,
                text="Tell me about owls.",
                content_hash="f" * 64,
                candidates_ready=True,
            )
            session.add(prompt)
            session.flush()
            session.add_all(
                Candidate(prompt_id=prompt.id, position=i, text=t, model="m")
                for i, t in enumerate(["Owls hunt at night.", "banana window seven"])
            )
            session.commit()
        assert worker.run_once()
        with sessions() as session:
            assert service.score_count(session, v2.id) == 66
        _download_zip(settings, engine, v2.id)
    finally:
        engine.dispose()


def _download_zip(settings: Settings, engine, version_id: int) -> None:
    with make_sessionmaker(engine)() as session:
        token = make_token(session, make_user(session, role="researcher"))
    app = create_app(settings, engine=engine)
    with TestClient(app) as client:
        response = client.get(
            f"/api/v1/reward-models/{version_id}/download",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert f"ranklab-reward-model-{version_id}/head.npz" in names


def test_a_full_version_trains_a_few_steps_on_cpu_and_loads_with_from_pretrained(
    model_cache, tmp_path
) -> None:
    from transformers import AutoModelForSequenceClassification

    url = databases.migrated(databases.sqlite_url(tmp_path / "full.db"))
    settings = _settings(_data_dir(tmp_path, model_cache), url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            ps = make_ranked_set(session, prompts=4)
            options = {
                "kind": "full",
                "test_fraction": 0.5,
                "max_steps": 1,
                "batch_size": 1,
                "max_length": 64,
                "lora": True,
                "lora_r": 2,
            }
            version = service.create_version(
                session,
                prompt_set_id=ps.id,
                options=options,
                created_by_id=None,
                app_settings=settings,
            )
        assert RewardWorker(engine, settings, "full-worker").run_once()
        with make_sessionmaker(engine)() as session:
            done = service.load_version(session, version.id)
            assert done.status == "done", done.error
            assert done.metrics["steps"] == 1 and done.metrics["test"]["pairs"] > 0
            assert service.score_count(session, done.id) == 16
        folder = Path(done.artifact_path)
        assert "Ranklab reward model" in (folder / "README.md").read_text()
        model = AutoModelForSequenceClassification.from_pretrained(str(folder))
        assert model.config.num_labels == 1
    finally:
        engine.dispose()


def test_full_training_over_the_time_budget_is_refused_up_front(
    model_cache, session, tmp_path
) -> None:
    ps = make_ranked_set(session, prompts=2)
    settings = Settings(
        data_dir=_data_dir(tmp_path, model_cache),
        secret_key="x" * 48,
        reward_min_comparisons=1,
        reward_full_time_budget_seconds=1,
    )
    with pytest.raises(Exception) as caught:
        service.create_version(
            session,
            prompt_set_id=ps.id,
            options={"kind": "full", "epochs": 20},
            created_by_id=None,
            app_settings=settings,
        )
    assert caught.value.status == 409 and "over the time budget" in caught.value.message
    assert session.scalar(select(func.count()).select_from(RewardModel)) == 0


def _worker_process(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app", "worker", "--poll", "0.2", *args],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_a_worker_killed_mid_training_leaves_the_previous_version_active(
    model_cache, fresh_postgres_url, tmp_path
) -> None:
    data_dir = _data_dir(tmp_path, model_cache)
    engine = make_engine(fresh_postgres_url)
    sessions = make_sessionmaker(engine)
    env = ranklab_env(
        data_dir,
        fresh_postgres_url,
        RANKLAB_WORKER_STALE_SECONDS="2",
        RANKLAB_WORKER_HEARTBEAT_SECONDS="0.5",
        RANKLAB_GENERATION_THREADS="1",
        RANKLAB_SECRET_KEY="x" * 48,
        RANKLAB_REWARD_MIN_COMPARISONS="20",
    )
    settings = _settings(data_dir, fresh_postgres_url)
    proc = None
    try:
        with sessions() as session:
            ps = make_ranked_set(session, prompts=8)
            every = session.scalars(
                select(Candidate.id).join(Prompt).where(Prompt.prompt_set_id == ps.id)
            )
            previous = make_scored_version(session, ps, {c: (0.0, 0.0) for c in every})
            version = service.create_version(
                session,
                prompt_set_id=ps.id,
                options={"batch_size": 1},
                created_by_id=None,
                app_settings=settings,
            )

        def embedding() -> bool:
            with sessions() as session:
                v = session.get(RewardModel, version.id)
                return v.status == "running" and v.progress_message.startswith("embedding")

        proc = _worker_process(env, tmp_path / "killed.log")
        _wait_for(embedding, 180, "the worker to be embedding")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(2.5)  # past the stale limit
        sweeper = _worker_process(env, tmp_path / "sweeper.log", "--until-idle")
        assert sweeper.wait(timeout=120) == 0
        with sessions() as session:
            failed = session.get(RewardModel, version.id)
            assert failed.status == "failed" and "stopped during training" in failed.error
            assert not failed.is_active and failed.artifact_path is None
            assert service.active_version(session, ps.id).id == previous.id
            scores = select(func.count()).where(CandidateScore.reward_model_id == version.id)
            assert session.scalar(scores) == 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        engine.dispose()


def test_a_prompt_longer_than_max_length_still_lets_candidates_differ(model_cache) -> None:
    """Issue 20: truncation kept the start, so every candidate of a long prompt read the
    same tokens and got the same embedding (and score). The end is kept now."""
    from app.reward.backbone import embed_texts

    lm, tokenizer, _source, _info = loaded_model("smollm2", model_cache, pick_dtype("auto"))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    prompt = "Please answer carefully. " * 40  # far more than 32 tokens
    texts = [f"{prompt}\nAnswer: Water boils at 100 C.", f"{prompt}\nAnswer: banana window."]
    vectors = embed_texts(lm, tokenizer, texts, pooling="last", max_length=32, batch_size=2)
    assert not np.allclose(vectors[0], vectors[1])
