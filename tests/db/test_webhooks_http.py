"""Webhook endpoints over HTTP: admin-only CRUD, URLs refused by scheme naming `url`, the
secret shown once (API answer, admin page), and no delivery inside a request: the submit
that causes an event answers before anything is sent; the worker step sends it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.config import Settings
from app.core.webhooks.delivery import WebhookSender
from app.core.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.prompt_sets import make_prompt_set
from tests.support.http import csrf_from, login
from tests.support.sessions import SharedSession
from tests.support.webhook_receiver import Receiver, webhook_receiver

pytestmark = pytest.mark.one_backend  # admin forms and API; the outbox itself: test_webhooks.py


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, role="admin")


@pytest.fixture
def headers(session: Session, admin: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, admin)}"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_api_registers_lists_edits_and_removes_an_endpoint_showing_the_secret_once(
    client: TestClient, headers: dict
) -> None:
    body = {"url": "https://hooks.example.org/ranklab", "events": ["prompt.completed"]}
    made = client.post("/api/v1/webhooks", json=body, headers=headers)
    assert made.status_code == 201
    endpoint = made.json()
    assert endpoint["secret"].startswith("whsec_") and endpoint["is_active"] is True
    path = f"/api/v1/webhooks/{endpoint['id']}"

    listed = client.get("/api/v1/webhooks", headers=headers).json()
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert "secret" not in listed[0] and "secret" not in client.get(path, headers=headers).json()
    changed = client.patch(
        path, json={"is_active": False, "events": ["judge_job.failed"]}, headers=headers
    )
    assert changed.status_code == 200
    assert (changed.json()["is_active"], changed.json()["events"]) == (False, ["judge_job.failed"])
    assert changed.json()["url"] == body["url"]
    assert client.get(f"{path}/deliveries", headers=headers).json() == []
    assert client.delete(path, headers=headers).status_code == 204
    assert client.get(path, headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://files.example.org/drop", "ftp: is not allowed"),
        ("javascript:alert(1)", "javascript: is not allowed"),
        ("https://", "must name a host"),
    ],
)
def test_api_refuses_a_url_that_is_not_http_naming_the_field(
    client: TestClient, session: Session, headers: dict, url: str, says: str
) -> None:
    answer = client.post(
        "/api/v1/webhooks", json={"url": url, "events": ["prompt.completed"]}, headers=headers
    )
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert [e["field"] for e in errors] == ["url"] and says in errors[0]["message"]
    assert _count(session, WebhookEndpoint) == 0


def test_api_refuses_unknown_events_and_non_admins(
    client: TestClient, session: Session, headers: dict
) -> None:
    bad = client.post(
        "/api/v1/webhooks",
        json={"url": "https://example.org/h", "events": ["prompt.exploded"]},
        headers=headers,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "events"
    researcher = make_user(session, role="researcher")
    theirs = {"Authorization": f"Bearer {make_token(session, researcher)}"}
    body = {"url": "https://example.org/h", "events": ["prompt.completed"]}
    assert client.get("/api/v1/webhooks", headers=theirs).status_code == 403
    assert client.post("/api/v1/webhooks", json=body, headers=theirs).status_code == 403
    assert _count(session, WebhookEndpoint) == 0


def test_admin_page_adds_an_endpoint_shows_its_secret_once_and_refuses_a_bad_url(
    client: TestClient, session: Session, admin: User
) -> None:
    login(client, admin.username, DEFAULT_PASSWORD)
    token = csrf_from(client.get("/admin/webhooks").text)
    form = {"csrf_token": token, "events": ["prompt.contested"], "is_active": "on"}
    no_csrf = client.post("/admin/webhooks", data={**form, "csrf_token": "", "url": "https://a.b"})
    assert no_csrf.status_code == 403
    bad = client.post("/admin/webhooks", data={**form, "url": "javascript:alert(1)"})
    assert bad.status_code == 422 and "url: must start with http://" in bad.text
    assert _count(session, WebhookEndpoint) == 0

    made = client.post(
        "/admin/webhooks", data={**form, "url": "https://a.example/h"}, follow_redirects=False
    )
    assert made.status_code == 303
    page = client.get(made.headers["location"]).text
    secret = re.search(r"<code class=\"secret\">(whsec_[A-Za-z0-9+/=]+)</code>", page).group(1)
    assert session.scalar(select(WebhookEndpoint.secret)) == secret
    assert secret not in client.get(made.headers["location"]).text  # shown once
    assert "https://a.example/h" in client.get("/admin/webhooks").text


def test_the_submit_that_completes_a_prompt_answers_before_any_delivery(
    client: TestClient,
    session: Session,
    engine: Engine,
    settings: Settings,
    headers: dict,
    receiver: Receiver,
) -> None:
    made = client.post(
        "/api/v1/webhooks",
        json={"url": receiver.url("/hooks"), "events": ["prompt.completed"]},
        headers=headers,
    ).json()
    receiver.secrets["/hooks"] = made["secret"]
    prompt_set = make_prompt_set(session, prompts=1, annotators_per_prompt=1)
    annotator = make_user(session)
    theirs = {"Authorization": f"Bearer {make_token(session, annotator)}"}
    task = client.get(f"/api/v1/tasks/next?prompt_set={prompt_set.id}", headers=theirs).json()

    ranking = [[c["id"]] for c in task["candidates"]]
    body = {"assignment_id": task["assignment_id"], "ranking": ranking}
    submitted = client.post("/api/v1/annotations", json=body, headers=theirs)

    assert submitted.status_code == 201
    assert receiver.requests == []  # the request sent nothing...
    row = session.scalars(select(WebhookDelivery)).one()
    assert (row.status, row.attempts) == ("pending", 0)  # ...it queued the event
    sender = WebhookSender(engine, settings, sessions=lambda: SharedSession(session))
    assert sender.run_once() is True  # the worker's step sends it
    assert [r.verified for r in receiver.requests] == [True]
    deliveries = client.get(f"/api/v1/webhooks/{made['id']}/deliveries", headers=headers).json()
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in deliveries] == [
        ("delivered", 1, 200)
    ]
