"""Judge runs with the real bundled SmolLM2 file, listwise and pairwise, on a tiny set.

A 135M-parameter model is a poor judge: what it says is whatever it says. The test holds
the run to its contract, not to the model's taste: every prompt ends ranked (a full
ranking of exactly its candidates) or failed (with the raw text and the reason kept).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.generation.backends.transformers import loaded_model, pick_dtype
from app.judges import service
from app.judges.models import JudgeRanking, JudgeRun
from app.judges.worker import JudgeWorker
from app.prompt_sets.models import Candidate
from tests.factories.judges import create_judge
from tests.factories.prompt_sets import make_prompt_set
from tests.support import databases

pytestmark = pytest.mark.model
TINY = {"backend": "transformers", "model": "smollm2", "max_new_tokens": 8}


@pytest.fixture(scope="session")
def model_home(request: pytest.FixtureRequest) -> Path:
    """A data folder whose models/ holds the converted SmolLM2 (kept between runs)."""
    home = Path(request.config.cache.mkdir("ranklab-models"))
    loaded_model("smollm2", home / "models", pick_dtype("auto"))
    return home


@pytest.mark.parametrize("mode", ["listwise", "pairwise"])
def test_the_bundled_model_ranks_or_fails_every_prompt(model_home, tmp_path, mode) -> None:
    url = databases.migrated(databases.sqlite_url(tmp_path / "judge.db"))
    app_settings = Settings(
        data_dir=model_home, database_url=url, secret_key="x" * 48, generation_threads=1
    )
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            ps = make_prompt_set(session, prompts=2, candidates=3)
            judge = create_judge(session, ps.id, app_settings, mode=mode, settings=TINY)
            run = service.queue_run(
                session,
                prompt_set_id=ps.id,
                judge_id=judge.id,
                created_by_id=None,
                app_settings=app_settings,
            )
            run_id, judge_id = run.id, judge.id
        worker = JudgeWorker(engine, app_settings, "local")
        while worker.run_once():
            pass

        with make_sessionmaker(engine)() as session:
            run = session.get(JudgeRun, run_id)
            assert (run.status, run.total, run.done + run.failed) == ("done", 2, 2)
            rows = session.scalars(
                select(JudgeRanking).where(JudgeRanking.judge_id == judge_id)
            ).all()
            assert len(rows) == 2
            for row in rows:
                ids = set(
                    session.scalars(
                        select(Candidate.id).where(Candidate.prompt_id == row.prompt_id)
                    )
                )
                assert row.raw_output and row.seconds_spent > 0
                if row.status == "ranked":
                    flat = [c for group in row.ranking for c in group]
                    assert sorted(flat) == sorted(ids) and row.error is None
                else:
                    assert row.ranking is None
                    assert row.error.startswith(("unparseable: ", "cut off: "))
                if mode == "pairwise":
                    assert row.pairs_judged in (3, None)
                    if row.status == "ranked":
                        assert 0 <= row.position_flips <= 3
    finally:
        engine.dispose()
