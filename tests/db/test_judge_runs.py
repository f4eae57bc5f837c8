"""Judge runs end to end through the worker and the OpenAI-compatible backend against a
real HTTP server on 127.0.0.1, on SQLite and PostgreSQL: both modes, unparseable output,
a request that fails once, reruns, a dead worker's run resumed, cancel, and judge
rankings never landing among people's annotations."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from app.analytics.reports import annotator_stats, dashboard_numbers
from app.annotation.models import Annotation, Assignment, Comparison
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, utcnow
from app.judges import service
from app.judges.models import JudgeRanking, JudgeRun
from app.judges.worker import JudgeWorker, Outcome
from app.prompt_sets.models import Candidate, Prompt
from tests.factories.judges import create_judge
from tests.factories.prompt_sets import make_prompt_set
from tests.support import databases
from tests.support.openai_server import ChatServer
from tests.support.server import ROOT, free_port, ranklab_env

BLOCK = re.compile(r"\[([A-H])\]\nAnswer (\d+) to prompt")


def _shown(body: dict[str, Any]) -> dict[str, int]:
    """label -> the candidate's position, read from the answers the judge was shown."""
    return {label: int(i) for label, i in BLOCK.findall(body["messages"][-1]["content"])}


def prefers_later_positions(body: dict[str, Any]) -> str:
    """A consistent judge: the answer generated last is best; garbage for prompts "*.1"."""
    if ".1: explain" in body["messages"][-1]["content"]:
        return "<b>I like all of them!</b> \x00"
    shown = _shown(body)
    if len(shown) == 2:
        return "Verdict: A" if shown["A"] > shown["B"] else "Verdict: B"
    return "Thinking...\n" + " > ".join(sorted(shown, key=lambda x: -shown[x]))


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    server = ChatServer(reply=prefers_later_positions).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def work_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh database the worker's own sessions commit to for real."""
    if request.param == "sqlite":
        url = databases.migrated(databases.sqlite_url(tmp_path / "judge.db"))
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _settings(tmp_path: Path, engine: Engine, base_url: str, **kw: Any) -> Settings:
    kw.setdefault("openai_concurrency", 2)
    return Settings(
        data_dir=tmp_path / "data",
        database_url=engine.url.render_as_string(hide_password=False),
        secret_key="x" * 48,
        openai_base_url=base_url,
        openai_model="tiny-judge",
        openai_timeout_seconds=5,
        **kw,
    )


def _queued(engine: Engine, app_settings: Settings, prompts: int = 3, **judge: Any) -> int:
    """A set of `prompts` prompts x 4 candidates, a judge, and a queued run; its run id."""
    with make_sessionmaker(engine)() as session:
        ps = make_prompt_set(session, prompts=prompts, candidates=4)
        made = create_judge(session, ps.id, app_settings, **judge)
        run = service.queue_run(
            session,
            prompt_set_id=ps.id,
            judge_id=made.id,
            created_by_id=None,
            app_settings=app_settings,
        )
        return run.id


def _until_idle(worker: JudgeWorker) -> None:
    while worker.run_once():
        pass


def _rankings(engine: Engine, run_id: int) -> tuple[JudgeRun, dict[int, JudgeRanking]]:
    with make_sessionmaker(engine)() as session:
        run = session.get(JudgeRun, run_id)
        rows = session.scalars(select(JudgeRanking).where(JudgeRanking.judge_id == run.judge_id))
        return run, {r.prompt_id: r for r in rows}


def _by_position(engine: Engine, prompt_id: int) -> list[int]:
    with make_sessionmaker(engine)() as session:
        return list(
            session.scalars(
                select(Candidate.id)
                .where(Candidate.prompt_id == prompt_id)
                .order_by(Candidate.position.desc())
            )
        )


def test_a_listwise_run_ranks_keeps_failures_raw_and_survives_a_failed_request(
    chat_server: ChatServer, work_engine: Engine, tmp_path: Path
) -> None:
    chat_server.script = [("status", 503, "overloaded")]  # the first request fails once
    app_settings = _settings(tmp_path, work_engine, chat_server.base_url)
    run_id = _queued(work_engine, app_settings)

    _until_idle(JudgeWorker(work_engine, app_settings, "w1"))

    run, rows = _rankings(work_engine, run_id)
    assert (run.status, run.total, run.done, run.failed) == ("done", 3, 2, 1)
    assert (
        run.error
        == "1 of 3 prompts could not be ranked; their judge output is listed under failures."
    )
    assert len(chat_server.requests) == 4  # three prompts, one retried
    assert {r["model"] for r in chat_server.requests} == {"tiny-judge"}
    assert {r["temperature"] for r in chat_server.requests} == {0.0}
    ranked = [r for r in rows.values() if r.status == "ranked"]
    assert len(ranked) == 2
    for row in ranked:
        assert row.ranking == [[c] for c in _by_position(work_engine, row.prompt_id)]
        assert row.raw_output.startswith("Thinking...") and row.error is None
        assert row.pairs_judged is None and row.seconds_spent > 0
    [failed] = [r for r in rows.values() if r.status == "failed"]
    assert failed.ranking is None
    assert failed.raw_output == "<b>I like all of them!</b> \ufffd"  # NUL made storable
    assert failed.error.startswith("unparseable: no line of the answer is an order")
    with make_sessionmaker(work_engine)() as session:
        prompt = session.get(Prompt, failed.prompt_id)
        assert prompt.text.split(":")[0].endswith(".1")


def test_a_pairwise_run_judges_each_pair_in_both_orders_and_counts_flips(
    chat_server: ChatServer, work_engine: Engine, tmp_path: Path
) -> None:
    app_settings = _settings(tmp_path, work_engine, chat_server.base_url)
    run_id = _queued(work_engine, app_settings, prompts=1, mode="pairwise")
    _until_idle(JudgeWorker(work_engine, app_settings, "w1"))

    run, rows = _rankings(work_engine, run_id)
    assert (run.status, run.done, run.failed) == ("done", 1, 0)
    [row] = rows.values()
    assert row.ranking == [[c] for c in _by_position(work_engine, row.prompt_id)]
    assert (row.pairs_judged, row.position_flips) == (6, 0)
    assert len(chat_server.requests) == 12
    shown = {tuple(sorted(_shown(r).items())) for r in chat_server.requests}
    assert len(shown) == 12  # every pair, each way round
    assert row.raw_output.count("--- A = candidate") == 12

    # A judge that always answers "A" flips on every pair: its ranking is one tie group.
    chat_server.reply = lambda body: "A"
    with make_sessionmaker(work_engine)() as session:
        prompt_set_id = session.get(Prompt, row.prompt_id).prompt_set_id
        biased = create_judge(session, prompt_set_id, app_settings, mode="pairwise")
        service.queue_run(
            session,
            prompt_set_id=prompt_set_id,
            judge_id=biased.id,
            created_by_id=None,
            app_settings=app_settings,
        )
        biased_id = biased.id
    _until_idle(JudgeWorker(work_engine, app_settings, "w1"))
    with make_sessionmaker(work_engine)() as session:
        flipped = session.scalar(select(JudgeRanking).where(JudgeRanking.judge_id == biased_id))
        assert (flipped.pairs_judged, flipped.position_flips) == (6, 6)
        assert flipped.ranking == [sorted(c for group in row.ranking for c in group)]


def test_an_unparseable_pair_verdict_fails_the_prompt_with_every_answer_kept(
    chat_server: ChatServer, work_engine: Engine, tmp_path: Path
) -> None:
    chat_server.reply = lambda body: (
        "Both answers have merit." if "[B]\nAnswer 3" in (body["messages"][-1]["content"]) else "B"
    )
    app_settings = _settings(tmp_path, work_engine, chat_server.base_url)
    run_id = _queued(work_engine, app_settings, prompts=1, mode="pairwise")
    _until_idle(JudgeWorker(work_engine, app_settings, "w1"))

    run, rows = _rankings(work_engine, run_id)
    [row] = rows.values()
    assert (run.done, run.failed, row.status, row.ranking) == (0, 1, "failed", None)
    assert "no line of the answer is a verdict" in row.error
    assert "Both answers have merit." in row.raw_output and row.raw_output.count("---") == 12


def test_a_rerun_skips_ranked_prompts_and_retries_failures(
    chat_server: ChatServer, work_engine: Engine, tmp_path: Path
) -> None:
    app_settings = _settings(tmp_path, work_engine, chat_server.base_url)
    run_id = _queued(work_engine, app_settings)
    _until_idle(JudgeWorker(work_engine, app_settings, "w1"))
    first, _ = _rankings(work_engine, run_id)

    chat_server.reply = lambda body: prefers_later_positions(
        {"messages": [{"content": body["messages"][-1]["content"].replace(".1: ", ".9: ")}]}
    )
    sent = len(chat_server.requests)
    with make_sessionmaker(work_engine)() as session:
        ps_id = service.load_judge(session, first.judge_id).prompt_set_id
        again = service.queue_run(
            session,
            prompt_set_id=ps_id,
            judge_id=first.judge_id,
            created_by_id=None,
            app_settings=app_settings,
        )
        assert again.total == 1
        again_id = again.id
    _until_idle(JudgeWorker(work_engine, app_settings, "w1"))

    run, rows = _rankings(work_engine, again_id)
    assert (run.status, run.total, run.done, run.failed) == ("done", 1, 1, 0)
    assert len(chat_server.requests) == sent + 1
    assert {r.status for r in rows.values()} == {"ranked"} and len(rows) == 3
    with make_sessionmaker(work_engine)() as session:
        assert session.scalar(select(func.count()).select_from(JudgeRanking)) == 3


def test_a_dead_workers_run_is_resumed_and_the_old_worker_writes_nothing(
    chat_server: ChatServer, work_engine: Engine, tmp_path: Path
) -> None:
    app_settings = _settings(tmp_path, work_engine, chat_server.base_url, worker_stale_seconds=30)
    run_id = _queued(work_engine, app_settings, prompts=5)
    dead = JudgeWorker(work_engine, app_settings, "dead")
    assert dead.claim() == run_id
    # While its heartbeat is fresh nobody else takes the run.
    assert JudgeWorker(work_engine, app_settings, "other").claim() is None
    with make_sessionmaker(work_engine)() as session:
        session.execute(update(JudgeRun).values(heartbeat_at=utcnow() - dt.timedelta(minutes=5)))
        session.commit()

    _until_idle(JudgeWorker(work_engine, app_settings, "heir"))

    run, rows = _rankings(work_engine, run_id)
    assert (run.status, run.worker_id, run.done + run.failed) == ("done", "heir", 5)
    sent = len(chat_server.requests)
    dead.step(run_id)  # the old worker wakes up: the run is not its own any more
    assert len(chat_server.requests) == sent
    # Nor does a ranking it had in flight land: the write re-checks the owner under a lock.
    some_prompt = next(iter(rows))
    late = Outcome(some_prompt, ranking=[[1]], raw_output="A")
    assert dead.write(run_id, run.judge_id, late) is False
    again, rows_after = _rankings(work_engine, run_id)
    assert (again.done, again.failed) == (run.done, run.failed)
    assert {p: r.id for p, r in rows_after.items()} == {p: r.id for p, r in rows.items()}


def test_a_cancelled_run_is_not_worked_on(
    chat_server: ChatServer, work_engine: Engine, tmp_path: Path
) -> None:
    app_settings = _settings(tmp_path, work_engine, chat_server.base_url)
    run_id = _queued(work_engine, app_settings)
    with make_sessionmaker(work_engine)() as session:
        judge_id = session.get(JudgeRun, run_id).judge_id
        ps_id = service.load_judge(session, judge_id).prompt_set_id
        service.cancel_run(session, run_id=run_id, prompt_set_id=ps_id)
    assert JudgeWorker(work_engine, app_settings, "w1").run_once() is False
    run, rows = _rankings(work_engine, run_id)
    assert (run.status, run.cancel_requested, rows) == ("cancelled", True, {})
    assert chat_server.requests == []


def test_an_unreachable_server_fails_the_run_with_a_clear_message(
    work_engine: Engine, tmp_path: Path
) -> None:
    app_settings = _settings(tmp_path, work_engine, f"http://127.0.0.1:{free_port()}/v1")
    run_id = _queued(work_engine, app_settings)
    _until_idle(JudgeWorker(work_engine, app_settings, "w1"))
    run, rows = _rankings(work_engine, run_id)
    assert run.status == "failed" and "is unreachable" in run.error and rows == {}


def test_judge_rankings_never_count_as_people(
    chat_server: ChatServer, work_engine: Engine, tmp_path: Path
) -> None:
    app_settings = _settings(tmp_path, work_engine, chat_server.base_url)
    run_id = _queued(work_engine, app_settings)
    _until_idle(JudgeWorker(work_engine, app_settings, "w1"))
    run, rows = _rankings(work_engine, run_id)
    assert run.done == 2
    with make_sessionmaker(work_engine)() as session:
        for table in (Annotation, Comparison, Assignment):
            assert session.scalar(select(func.count()).select_from(table)) == 0
        ps_id = service.load_judge(session, run.judge_id).prompt_set_id
        numbers = dashboard_numbers(session, ps_id, 3)
        assert (numbers["progress"].annotations, numbers["progress"].items_complete) == (0, 0)
        assert numbers["agreement"] is None
        assert annotator_stats(session, ps_id) == []


def _worker_process(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "app", "worker", "--poll", "0.2"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_worker_process_is_resumed_by_a_restarted_one(
    chat_server: ChatServer, fresh_postgres_url: str, tmp_path: Path
) -> None:
    chat_server.default = ("sleep", 0.3)  # slow enough to be killed mid-run
    engine = make_engine(fresh_postgres_url)
    app_settings = _settings(tmp_path, engine, chat_server.base_url, openai_concurrency=1)
    env = ranklab_env(
        tmp_path / "data",
        fresh_postgres_url,
        RANKLAB_OPENAI_BASE_URL=chat_server.base_url,
        RANKLAB_OPENAI_MODEL="tiny-judge",
        RANKLAB_OPENAI_CONCURRENCY="1",
        RANKLAB_WORKER_STALE_SECONDS="2",
        RANKLAB_WORKER_HEARTBEAT_SECONDS="0.5",
        RANKLAB_SECRET_KEY="x" * 48,
    )
    first = second = None

    def run() -> JudgeRun:
        return _rankings(engine, run_id)[0]

    try:
        run_id = _queued(engine, app_settings, prompts=8)
        first = _worker_process(env, tmp_path / "first.log")
        _wait_for(lambda: run().done + run().failed >= 2, 90, "the first worker to rank 2")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        at_kill = run()
        assert at_kill.done + at_kill.failed < 8, "the run finished before the kill"

        second = _worker_process(env, tmp_path / "second.log")
        _wait_for(lambda: run().status == "done", 90, "the restarted worker to finish")
        finished, rows = _rankings(engine, run_id)
        assert (finished.total, finished.done + finished.failed, len(rows)) == (8, 8, 8)
        assert finished.worker_id != at_kill.worker_id
        assert {r.run_id for r in rows.values()} == {run_id}
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        engine.dispose()
