"""Webhooks on both databases: the outbox row is written in the action's transaction,
claimed by one worker at a time, signed, retried with the same webhook-id, and given up
on (endpoint marked failing) after the last attempt. A real receiver on a loopback port
verifies every signature with the standardwebhooks library."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from app.admin import webhooks
from app.annotation import submission
from app.core.config import Settings
from app.core.db import make_sessionmaker
from app.core.webhooks import events, outbox
from app.core.webhooks.delivery import WebhookSender, backoff, claim_due
from app.core.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories.accounts import make_user
from tests.factories.annotation import lease, submission_for
from tests.factories.prompt_sets import make_prompt_set
from tests.support.sessions import SharedSession
from tests.support.webhook_receiver import SLEEP, Receiver, webhook_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    """Two attempts, no wait between them, a timeout far below the receiver's sleep."""
    return settings.model_copy(
        update={
            "webhook_max_attempts": 2,
            "webhook_backoff_seconds": 0.0,
            "webhook_timeout_seconds": 0.25,
        }
    )


def _endpoint(session: Session, receiver: Receiver, path: str, wanted: list[str]) -> int:
    endpoint, secret = webhooks.create_endpoint(
        session, webhooks.EndpointInput(receiver.url(path), wanted)
    )
    receiver.secrets[path] = secret
    return endpoint.id


def _sender(session: Session, engine: Engine, app_settings: Settings) -> WebhookSender:
    return WebhookSender(engine, app_settings, sessions=lambda: SharedSession(session))


def _deliveries(session: Session) -> list[WebhookDelivery]:
    session.expire_all()
    return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n, base=30, cap=100) for n in (1, 2, 3, 4)] == [30, 60, 100, 100]


def test_a_retried_delivery_reaches_the_receiver_once_with_the_same_signed_id(
    session: Session, engine: Engine, fast_settings: Settings, receiver: Receiver
) -> None:
    # Arrange: one seat per prompt, so this submit completes the prompt.
    _endpoint(session, receiver, "/hooks", [events.PROMPT_COMPLETED])
    receiver.script["/hooks"] = [500, 200]
    prompt_set = make_prompt_set(session, prompts=1, annotators_per_prompt=1)
    annotator = make_user(session)
    task = lease(session, prompt_set.id, annotator)
    submission.submit_annotation(session, annotator=annotator, data=submission_for(task))
    sender = _sender(session, engine, fast_settings)

    # Act: the first try gets a 500, the retry a 200.
    assert sender.run_once() is True
    after_first = [(d.attempts, d.last_status_code, d.status) for d in _deliveries(session)]
    assert sender.run_once() is True
    assert sender.run_once() is False  # nothing left to send

    # Assert
    assert after_first == [(1, 500, "pending")]
    (done,) = _deliveries(session)
    assert (done.status, done.attempts, done.last_status_code) == ("delivered", 2, 200)
    assert [r.answered for r in receiver.requests] == [500, 200]
    assert all(r.verified for r in receiver.requests)
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert ids == {done.event_id}  # the retry carried the first try's id
    assert list(receiver.processed) == [done.event_id]  # processed once
    payload = receiver.processed[done.event_id]
    assert payload["type"] == "prompt.completed"
    assert payload["data"] == {
        "prompt_set_id": prompt_set.id,
        "prompt_id": task.prompt_id,
        "rankings": 1,
        "seats": 1,
    }


def test_a_rolled_back_action_leaves_no_outbox_row(session: Session, receiver: Receiver) -> None:
    _endpoint(session, receiver, "/hooks", [events.PROMPT_COMPLETED])
    prompt_set = make_prompt_set(session, prompts=2, annotators_per_prompt=1)
    annotator = make_user(session)

    task = lease(session, prompt_set.id, annotator)
    submission.store_annotation(session, annotator=annotator, data=submission_for(task))
    assert len(_deliveries(session)) == 1  # written in the action's transaction...
    session.rollback()
    assert _deliveries(session) == []  # ...and gone with it

    task = lease(session, prompt_set.id, annotator)
    submission.submit_annotation(session, annotator=annotator, data=submission_for(task))
    assert [d.event_type for d in _deliveries(session)] == ["prompt.completed"]


def test_an_endpoint_answering_500_or_timing_out_is_retried_then_marked_failing(
    session: Session, engine: Engine, fast_settings: Settings, receiver: Receiver
) -> None:
    broken = _endpoint(session, receiver, "/broken", [events.ANNOTATOR_HELD])
    slow = _endpoint(session, receiver, "/slow", [events.ANNOTATOR_HELD])
    unsubscribed = _endpoint(session, receiver, "/other", [events.PROMPT_COMPLETED])
    receiver.script.update({"/broken": [500], "/slow": [SLEEP]})
    data = {"prompt_set_id": 1, "annotator_id": 2, "state": "paused", "reason": "r"}
    assert outbox.emit(session, events.ANNOTATOR_HELD, data) == 2
    session.commit()
    sender = _sender(session, engine, fast_settings)

    assert sender.run_once() is True  # attempt 1 of 2: both fail, both wait for a retry
    assert {d.status for d in _deliveries(session)} == {"pending"}
    assert sender.run_once() is True  # attempt 2 of 2: given up
    assert sender.run_once() is False

    rows = {d.endpoint_id: d for d in _deliveries(session)}
    assert set(rows) == {broken, slow}  # nothing for the endpoint that did not subscribe
    assert (rows[broken].status, rows[broken].attempts) == ("failed", 2)
    assert rows[broken].last_status_code == 500 and "HTTP 500" in rows[broken].last_error
    assert (rows[slow].status, rows[slow].attempts) == ("failed", 2)
    assert rows[slow].last_status_code is None and "Timeout" in rows[slow].last_error
    assert rows[slow].next_attempt_at is None
    failing = {e.id: e.failing_since for e in session.scalars(select(WebhookEndpoint))}
    assert failing[broken] is not None and failing[slow] is not None
    assert failing[unsubscribed] is None
    ids = [r.headers["webhook-id"] for r in receiver.requests if r.path == "/broken"]
    assert len(ids) == 2 and len(set(ids)) == 1


def test_the_claim_hands_a_delivery_to_one_worker_at_a_time(engine: Engine) -> None:
    """Committed rows and separate connections, as two workers have (cleaned up after):
    PostgreSQL skips the rows another open claim holds locked; on both databases a
    committed claim leases its rows until the send's timeout has passed."""
    sessions = make_sessionmaker(engine)
    with sessions() as setup:
        endpoint = WebhookEndpoint(
            url="http://127.0.0.1:9/x", events=[events.PROMPT_COMPLETED], secret="whsec_AAAA"
        )
        setup.add(endpoint)
        setup.flush()
        endpoint_id = endpoint.id
        for n in range(2):
            outbox.emit(setup, events.PROMPT_COMPLETED, {"n": n})
        setup.commit()
    try:
        with sessions() as first, sessions() as second:
            mine = claim_due(first, limit=1, lease_seconds=60)
            if engine.dialect.name == "sqlite":
                first.commit()  # SQLite: one writer at a time (BEGIN IMMEDIATE) instead
            theirs = claim_due(second, limit=2, lease_seconds=60)
            first.commit()
            second.commit()
        with sessions() as third:
            assert claim_due(third, limit=2, lease_seconds=60) == []  # both leased
            third.rollback()
        assert len(mine) == 1 and len(theirs) == 1
        assert mine[0].delivery_id != theirs[0].delivery_id
        assert json.loads(mine[0].body)["data"] == {"n": 0}
    finally:
        with sessions() as cleanup:
            cleanup.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))
            cleanup.commit()
            left = cleanup.scalar(select(func.count()).select_from(WebhookDelivery))
            assert left == 0
