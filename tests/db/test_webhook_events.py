"""Where each webhook event is queued: the submit that fills a prompt's seats (completed),
adds a seat or sends it to adjudication (contested), fails an annotator's qualification
round (held), and the ends of generation, judge and reward jobs. Each is a row in the
outbox, written in the same transaction as the change it reports."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.admin import webhooks
from app.annotation import submission
from app.core.config import Settings
from app.core.webhooks.events import EVENTS
from app.core.webhooks.models import WebhookDelivery
from app.generation.models import GenerationJob
from app.generation.worker import Worker
from app.judges.models import JudgeRun
from app.judges.worker import JudgeWorker
from app.prompt_sets.models import Prompt, PromptSet
from app.reward import service as reward_service
from tests.factories.accounts import make_user
from tests.factories.annotation import lease, submission_for
from tests.factories.judges import make_judge
from tests.factories.prompt_sets import make_gold_prompt, make_prompt_set
from tests.factories.reward import make_version
from tests.support.sessions import SharedSession

pytestmark = pytest.mark.one_backend  # the decisions are the submit's, the same on both


@pytest.fixture(autouse=True)
def endpoint(session: Session) -> int:
    """An endpoint subscribed to every event (nothing is sent: no worker runs here)."""
    made, _ = webhooks.create_endpoint(
        session, webhooks.EndpointInput("http://127.0.0.1:9/hooks", list(EVENTS))
    )
    return made.id


def _events(session: Session) -> list[tuple[str, dict]]:
    session.expire_all()
    rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
    return [(row.event_type, json.loads(row.body)["data"]) for row in rows]


def _rank(session: Session, ps: PromptSet, who, *, reverse: bool) -> int:  # type: ignore[no-untyped-def]
    task = lease(session, ps.id, who)
    ids = sorted(c.id for c in task.candidates)
    ranking = [[cid] for cid in (reversed(ids) if reverse else ids)]
    submission.submit_annotation(session, annotator=who, data=submission_for(task, ranking=ranking))
    return task.prompt_id


def test_seats_filled_escalated_and_sent_to_adjudication(session: Session) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=2, annotators_max=3)
    users = [make_user(session) for _ in range(3)]
    prompt_id = _rank(session, ps, users[0], reverse=False)
    assert _events(session) == []  # one of two seats
    _rank(session, ps, users[1], reverse=True)  # k reached, contested: a third seat
    _rank(session, ps, users[2], reverse=True)  # at annotators_max, still contested
    where = {"prompt_set_id": ps.id, "prompt_id": prompt_id}
    assert _events(session) == [
        ("prompt.contested", {**where, "rankings": 2, "seats": 3, "outcome": "escalated"}),
        ("prompt.contested", {**where, "rankings": 3, "seats": 3, "outcome": "adjudication"}),
        ("prompt.completed", {**where, "rankings": 3, "seats": 3}),
    ]


def test_agreeing_rankings_complete_the_prompt_once(session: Session) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=2, annotators_max=3)
    users = [make_user(session) for _ in range(2)]
    prompt_id = _rank(session, ps, users[0], reverse=False)
    _rank(session, ps, users[1], reverse=False)
    assert _events(session) == [
        (
            "prompt.completed",
            {"prompt_set_id": ps.id, "prompt_id": prompt_id, "rankings": 2, "seats": 2},
        )
    ]


def test_failing_the_qualification_round_holds_the_annotator(session: Session) -> None:
    ps = make_prompt_set(session, prompts=1, qualification_items=1, qualification_min_agreement=1.0)
    make_gold_prompt(session, ps, text="gold item")
    session.commit()
    user = make_user(session)
    task = lease(session, ps.id, user)
    prompt = session.get(Prompt, task.prompt_id)
    assert prompt is not None and prompt.gold_ranking is not None
    best, others = prompt.gold_ranking
    data = submission_for(task, ranking=[others, best])  # the known best ranked last
    submission.submit_annotation(session, annotator=user, data=data)
    assert _events(session) == [
        (
            "annotator.held",
            {
                "prompt_set_id": ps.id,
                "annotator_id": user.id,
                "username": user.username,
                "state": "failed",
                "reason": "0 of 1 gold items agreed, 100% needed",
            },
        )
    ]


def test_job_ends_are_events(session: Session, settings: Settings) -> None:
    ps = make_prompt_set(session, prompts=1)
    done = GenerationJob(prompt_set_id=ps.id, status="running", total=0)
    broken = GenerationJob(prompt_set_id=ps.id, status="running", total=1)
    judge = make_judge(session, ps)
    run = JudgeRun(judge_id=judge.id, status="running", total=1, worker_id="w")
    session.add_all([done, broken, run])
    session.commit()
    version = make_version(session, ps, status="running")
    worker = Worker(session.get_bind().engine, settings, worker_id="w")
    worker.sessionmaker = lambda: SharedSession(session)  # type: ignore[assignment]
    judges = JudgeWorker(session.get_bind().engine, settings, "w")
    judges.sessionmaker = lambda: SharedSession(session)  # type: ignore[assignment]

    worker._finish_if_complete(session, done)  # no task left open
    session.commit()
    worker.fail_job(broken.id, "server unreachable")
    judges.fail_run(run.id, "model missing")
    reward_service.fail_version(session, version_id=version.id, reason="out of memory")

    got = [(kind, data.get("status"), data.get("error")) for kind, data in _events(session)]
    assert got == [
        ("generation_job.finished", "done", None),
        ("generation_job.failed", "failed", "server unreachable"),
        ("judge_job.failed", "failed", "model missing"),
        ("reward_job.failed", "failed", "out of memory"),
    ]
