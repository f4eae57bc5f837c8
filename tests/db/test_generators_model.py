"""Two generators and a draft -> critique -> revise pipeline with the real SmolLM2 file
(short outputs, SQLite): each candidate says which generator made it."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from app.core.db import make_engine, make_sessionmaker
from app.generation import service as generation_service
from app.generation.models import GenerationJob
from app.generation.worker import Worker
from app.prompt_sets.models import Candidate
from tests.db.test_generation_model import _settings, model_home  # noqa: F401 (fixture)
from tests.factories.generation import make_generation_set
from tests.support import databases

pytestmark = pytest.mark.model
SHORT = {"max_new_tokens": 8}


def test_two_local_generators_and_a_pipeline_end_to_end(model_home, tmp_path) -> None:  # noqa: F811
    url = databases.migrated(databases.sqlite_url(tmp_path / "arena.db"))
    app_settings = _settings(model_home, url)
    generators = [
        {"name": "cool", "settings": {**SHORT, "temperature": 0.3}},
        {"name": "warm", "settings": {**SHORT, "temperature": 1.2}},
        {
            "name": "team",
            "pipeline": {"recipe": "draft_critique_revise", "drafter": "cool", "critic": "warm"},
        },
    ]
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            ps = make_generation_set(session, prompts=3, candidates=3, generators=generators)
            job = generation_service.start_generation(
                session, prompt_set_id=ps.id, created_by_id=None, app_settings=app_settings
            )
        worker = Worker(engine, app_settings)
        while worker.run_once():
            pass
        with make_sessionmaker(engine)() as session:
            done = session.get(GenerationJob, job.id)
            assert (done.status, done.done, done.failed) == ("done", 3, 0), done.error
            rows = session.scalars(select(Candidate)).all()
        assert Counter(c.generator for c in rows) == {"cool": 3, "warm": 3, "team": 3}
        for c in rows:
            assert c.text.strip()
            if c.generator == "team":
                assert [s["role"] for s in c.transcript] == ["draft", "critique", "revise"]
                assert c.completion_tokens == sum(s["tokens"] for s in c.transcript)
            else:
                assert c.transcript is None and c.model
                assert c.sampling["temperature"] == {"cool": 0.3, "warm": 1.2}[c.generator]
    finally:
        engine.dispose()
