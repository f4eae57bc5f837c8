"""What a judge version's rankings stand for (issue 20, item 12), through the worker and
the real OpenAI-compatible test server, on SQLite and PostgreSQL: rankings of replaced
candidates go with them (also while the judge runs), a version keeps the model it was
created with, an answer cut off at its token limit is a failure, and a prompt's seed does
not depend on which prompts share its batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, select

from app.core.db import make_sessionmaker
from app.generation import service as generation_service
from app.judges import service
from app.judges.models import Judge, JudgeRanking, JudgeRun
from app.judges.quality import judge_quality
from app.judges.schemas import JudgeEdit
from app.judges.settings import resolve_judge_settings
from app.judges.worker import JudgeWorker
from app.prompt_sets.models import Candidate, Prompt
from tests.db import test_judge_runs
from tests.db.test_judge_runs import _queued, _rankings, _settings, _shown, _until_idle
from tests.support.openai_server import ChatServer

chat_server = test_judge_runs.chat_server  # the fixtures, shared
work_engine = test_judge_runs.work_engine


def prefers_later(body: dict[str, Any]) -> str:
    """A judge that ranks every prompt: the answer generated last is best."""
    shown = _shown(body)
    return " > ".join(sorted(shown, key=lambda label: -shown[label]))


def _prompt_ids(engine: Engine, run_id: int) -> list[int]:
    with make_sessionmaker(engine)() as session:
        judge = session.get(Judge, session.get(JudgeRun, run_id).judge_id)
        return list(
            session.scalars(
                select(Prompt.id)
                .where(Prompt.prompt_set_id == judge.prompt_set_id)
                .order_by(Prompt.id)
            )
        )


def _regenerate(engine: Engine, app_settings: Any, prompt_id: int) -> None:
    with make_sessionmaker(engine)() as session:
        generation_service.start_generation(
            session,
            prompt_set_id=session.get(Prompt, prompt_id).prompt_set_id,
            created_by_id=None,
            app_settings=app_settings,
            prompt_ids=[prompt_id],
            regenerate=True,
        )


def _new_candidates(engine: Engine, prompt_id: int) -> list[int]:
    """What the generation worker would write: four fresh candidates, then ready."""
    with make_sessionmaker(engine)() as session:
        made = [
            Candidate(prompt_id=prompt_id, position=i, text=f"Answer {i} to prompt {prompt_id}")
            for i in range(4)
        ]
        session.add_all(made)
        session.get(Prompt, prompt_id).candidates_ready = True
        session.commit()
        return [c.id for c in made]


def _rerun(engine: Engine, app_settings: Any, judge_id: int) -> JudgeRun:
    with make_sessionmaker(engine)() as session:
        return service.queue_run(
            session,
            prompt_set_id=session.get(Judge, judge_id).prompt_set_id,
            judge_id=judge_id,
            created_by_id=None,
            app_settings=app_settings,
        )


def test_regenerated_candidates_take_their_judge_rankings_with_them(
    chat_server: ChatServer, work_engine: Engine, tmp_path: Path
) -> None:
    chat_server.reply = prefers_later
    app_settings = _settings(tmp_path, work_engine, chat_server.base_url)
    run_id = _queued(work_engine, app_settings)
    _until_idle(JudgeWorker(work_engine, app_settings, "w1"))
    run, rows = _rankings(work_engine, run_id)
    first, *others = _prompt_ids(work_engine, run_id)
    assert {r.status for r in rows.values()} == {"ranked"} and len(rows) == 3

    _regenerate(work_engine, app_settings, first)

    _, rows = _rankings(work_engine, run_id)
    assert sorted(rows) == others  # gone in the regeneration's own commit
    with make_sessionmaker(work_engine)() as session:
        judge = session.get(Judge, run.judge_id)
        assert service.count_pending(session, judge) == 0  # no candidates to rank yet
        [quality] = judge_quality(session, judge.prompt_set_id)
        assert quality["rankings"] == 2
    new_ids = _new_candidates(work_engine, first)
    again = _rerun(work_engine, app_settings, run.judge_id)
    assert again.total == 1  # the prompt is not done any more
    _until_idle(JudgeWorker(work_engine, app_settings, "w1"))
    _, rows = _rankings(work_engine, run_id)
    assert sorted(c for group in rows[first].ranking for c in group) == sorted(new_ids)
    assert rows[first].run_id == again.id


def test_a_ranking_of_candidates_replaced_while_the_judge_ran_is_dropped(
    chat_server: ChatServer, work_engine: Engine, tmp_path: Path
) -> None:
    app_settings = _settings(tmp_path, work_engine, chat_server.base_url)
    run_id = _queued(work_engine, app_settings, prompts=1)
    [prompt_id] = _prompt_ids(work_engine, run_id)

    def regenerate_meanwhile(body: dict[str, Any]) -> str:
        _regenerate(work_engine, app_settings, prompt_id)  # after the worker read them
        return prefers_later(body)

    chat_server.reply = regenerate_meanwhile
    _until_idle(JudgeWorker(work_engine, app_settings, "w1"))

    run, rows = _rankings(work_engine, run_id)
    assert rows == {} and (run.status, run.done, run.failed) == ("done", 0, 0)
    assert len(chat_server.requests) == 1


def test_a_version_keeps_the_model_it_was_created_with(
    chat_server: ChatServer, work_engine: Engine, tmp_path: Path
) -> None:
    chat_server.reply = prefers_later
    created_under = _settings(tmp_path, work_engine, chat_server.base_url)  # tiny-judge
    run_id = _queued(work_engine, created_under, prompts=1)

    moved_on = created_under.model_copy(update={"openai_model": "another-judge"})
    _until_idle(JudgeWorker(work_engine, moved_on, "w1"))

    run, _ = _rankings(work_engine, run_id)
    assert (run.done, [r["model"] for r in chat_server.requests]) == (1, ["tiny-judge"])
    with make_sessionmaker(work_engine)() as session:
        judge = session.get(Judge, run.judge_id)
        assert judge.settings.get("model") == "tiny-judge"  # pinned, and shown with it
        assert service.run_progress(session, run)["model"] == "tiny-judge"
        # A new version made by an edit that leaves the settings alone keeps the model.
        edited = service.edit_judge(
            session,
            prompt_set_id=judge.prompt_set_id,
            judge_id=judge.id,
            data=JudgeEdit(rubric=judge.rubric + "\nBe strict."),
            created_by_id=None,
            app_settings=moved_on,
        )
        assert edited.settings["model"] == "tiny-judge"


def test_an_answer_cut_off_at_the_token_limit_is_a_failure_with_its_reason(
    chat_server: ChatServer, work_engine: Engine, tmp_path: Path
) -> None:
    chat_server.script = [("cut", "A > B > C > D")]  # parses, but the model was not done
    app_settings = _settings(tmp_path, work_engine, chat_server.base_url)
    run_id = _queued(work_engine, app_settings, prompts=1)
    _until_idle(JudgeWorker(work_engine, app_settings, "w1"))

    run, rows = _rankings(work_engine, run_id)
    [row] = rows.values()
    assert (run.done, run.failed, row.status, row.ranking) == (0, 1, "failed", None)
    assert row.raw_output == "A > B > C > D"
    assert row.error == (
        "cut off: the answer reached max_new_tokens (16) before it ended; "
        "raise settings.max_new_tokens"
    )


def test_a_cut_off_pair_verdict_fails_the_prompt_naming_the_pair(
    chat_server: ChatServer, work_engine: Engine, tmp_path: Path
) -> None:
    chat_server.script = ["ok", ("cut", "A")]  # the second call of the prompt is cut off
    chat_server.reply = lambda body: "A"
    app_settings = _settings(tmp_path, work_engine, chat_server.base_url, openai_concurrency=1)
    run_id = _queued(work_engine, app_settings, prompts=1, mode="pairwise")
    _until_idle(JudgeWorker(work_engine, app_settings, "w1"))

    run, rows = _rankings(work_engine, run_id)
    [row] = rows.values()
    assert (run.failed, row.status) == (1, "failed")
    assert row.error.startswith("cut off: A = candidate ")
    assert "reached max_new_tokens (16)" in row.error


def test_a_prompts_seed_comes_from_the_version_and_the_prompt_not_the_batch(
    chat_server: ChatServer, work_engine: Engine, tmp_path: Path
) -> None:
    chat_server.reply = prefers_later
    # One request at a time, two per step: the prompts go out in id order, two per batch.
    app_settings = _settings(tmp_path, work_engine, chat_server.base_url, openai_concurrency=1)
    run_id = _queued(
        work_engine, app_settings, prompts=3, settings={"backend": "openai", "seed": 7}
    )
    _until_idle(JudgeWorker(work_engine, app_settings, "w1"))

    with make_sessionmaker(work_engine)() as session:
        judge = session.get(Judge, session.get(JudgeRun, run_id).judge_id)
        gen = resolve_judge_settings(judge.settings, app_settings)
    expected = [gen.seed_for(pid, 0) for pid in _prompt_ids(work_engine, run_id)]
    assert [r["seed"] for r in chat_server.requests] == expected
    assert expected[0] == (7 + _prompt_ids(work_engine, run_id)[0] * 1_000_003) % 2**31

    # Ranked again alone (first in its batch), the second prompt gets the same seed.
    with make_sessionmaker(work_engine)() as session:
        second = _prompt_ids(work_engine, run_id)[1]
        session.execute(delete(JudgeRanking).where(JudgeRanking.prompt_id == second))
        session.commit()
    _rerun(work_engine, app_settings, judge.id)
    _until_idle(JudgeWorker(work_engine, app_settings, "w1"))
    assert chat_server.requests[-1]["seed"] == expected[1]
