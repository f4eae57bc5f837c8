"""/metrics (issue 23): the Prometheus exposition parses, carries Ranklab's numbers with
the values a few real actions leave, and is refused without the scrape token."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.annotation import submission
from app.core.config import Settings
from app.core.db import db_now, get_session
from app.generation.models import GenerationJob
from app.judges.models import JudgeRun
from app.main import create_app
from tests.factories.accounts import make_token, make_user
from tests.factories.annotation import lease, lease_and_submit
from tests.factories.judges import make_judge
from tests.factories.prompt_sets import make_prompt_set
from tests.support.sessions import SharedSession

TOKEN = "scrape-token-for-tests"


@pytest.fixture
def scrape_client(settings: Settings, engine: Engine, session: Session) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"metrics_token": TOKEN}), engine=engine)
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, keyed by (name, sorted labels)."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_carry_annotations_leases_queues_and_route_templates(
    scrape_client: TestClient, session: Session
) -> None:
    before = scrape(scrape_client)
    ps = make_prompt_set(session, prompts=3, annotators_per_prompt=1)
    alice, bob = make_user(session), make_user(session)
    lease_and_submit(session, ps.id, alice)  # prompt 1: complete (k = 1)
    skipped = lease(session, ps.id, alice)
    submission.skip_assignment(
        session, annotator=alice, assignment_id=skipped.assignment_id, reason="unclear"
    )
    lease(session, ps.id, bob)  # a live lease
    now = db_now(session)
    judge = make_judge(session, ps)
    session.add_all(
        [
            GenerationJob(
                prompt_set_id=ps.id, status="queued", created_at=now - dt.timedelta(minutes=2)
            ),
            GenerationJob(
                prompt_set_id=ps.id,
                status="running",
                worker_id="host-1",
                heartbeat_at=now - dt.timedelta(seconds=30),
                tokens_generated=1000,
                tokens_per_second=12.5,
            ),
            JudgeRun(judge_id=judge.id, status="queued", created_at=now - dt.timedelta(minutes=5)),
        ]
    )
    session.commit()
    # A real export over HTTP: its stream reads through the test's transaction.
    scrape_client.app.state.sessionmaker = lambda: SharedSession(session)
    researcher = make_user(session, role="researcher")
    exported = scrape_client.get(
        f"/api/v1/exports/pairs?prompt_set={ps.id}&columns=core",
        headers={"Authorization": f"Bearer {make_token(session, researcher)}"},
    )
    assert exported.status_code == 200
    rows = len(exported.text.splitlines())
    assert rows == 6  # one ranking of four candidates, no ties: 4 choose 2 pairs
    # Not logged in: a 401, counted under the route's template, not the raw path.
    assert scrape_client.get(f"/api/v1/prompt-sets/{ps.id}").status_code == 401

    after = scrape(scrape_client)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0.0)

    set_label = str(ps.id)
    assert delta("ranklab_annotations_total") == 1
    assert delta("ranklab_skips_total") == 1
    assert delta("ranklab_export_rows_total", format="pairs") == rows
    assert after[("ranklab_leases", (("state", "live"),))] == 1
    assert after[("ranklab_prompts", (("prompt_set_id", set_label),))] == 3
    assert after[("ranklab_prompts_complete", (("prompt_set_id", set_label),))] == 1
    assert after[("ranklab_prompt_set_info", (("id", set_label), ("name", ps.name)))] == 1
    assert after[("ranklab_queue_depth", (("kind", "generation"),))] == 1
    assert after[("ranklab_queue_depth", (("kind", "judge"),))] == 1
    assert after[("ranklab_queue_depth", (("kind", "reward"),))] == 0
    # Ages on the database's clock: at least what the rows were back-dated by.
    assert 120 <= after[("ranklab_queue_oldest_age_seconds", (("kind", "generation"),))] < 3600
    assert 300 <= after[("ranklab_queue_oldest_age_seconds", (("kind", "judge"),))] < 3600
    heartbeat = (
        "ranklab_worker_heartbeat_age_seconds",
        (("kind", "generation"), ("worker", "host-1")),
    )
    assert 30 <= after[heartbeat] < 3600
    assert after[("ranklab_jobs_running", (("kind", "generation"),))] == 1
    assert after[("ranklab_generation_tokens_per_second", ())] == 12.5
    assert after[("ranklab_generation_tokens_total", ())] == 1000
    route = (("method", "GET"), ("route", "/api/v1/prompt-sets/{prompt_set_id}"), ("status", "401"))
    assert delta("ranklab_http_requests_total", **dict(route)) == 1
    assert (
        "ranklab_http_requests_total",
        (("method", "GET"), ("route", "/metrics"), ("status", "200")),
    ) in after


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "Authorization: Bearer"),
        ({"Authorization": "Bearer not-the-token"}, 403, "not the metrics scrape token"),
        ({"Authorization": f"Basic {TOKEN}"}, 401, "Authorization: Bearer"),
    ],
)
def test_metrics_refuse_a_missing_or_wrong_token(
    scrape_client: TestClient, headers: dict[str, str], status: int, message: str
) -> None:
    response = scrape_client.get("/metrics", headers=headers)
    assert response.status_code == status
    assert message in response.text
    assert "ranklab_" not in response.text


def test_metrics_without_a_token_refuse_a_caller_off_loopback(client: TestClient) -> None:
    # TestClient's peer is "testclient", not a loopback address.
    response = client.get("/metrics")
    assert response.status_code == 403
    assert "RANKLAB_METRICS_TOKEN" in response.text
