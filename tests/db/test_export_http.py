"""The export and stats endpoints and the research page over HTTP (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.exports.pages import research_home_context
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.export_data import ExportScenario, make_export_scenario
from tests.support.http import login
from tests.support.sessions import SharedSession


@pytest.fixture
def scenario(session: Session, client: TestClient) -> ExportScenario:
    # The stream opens its own session; in tests it must see the uncommitted outer transaction.
    client.app.state.sessionmaker = lambda: SharedSession(session)
    return make_export_scenario(session)


@pytest.fixture
def researcher_headers(session: Session) -> dict[str, str]:
    user = make_user(session, role="researcher")
    return {"Authorization": f"Bearer {make_token(session, user)}"}


def test_export_streams_jsonl_with_filename(client, scenario, researcher_headers):
    ps = scenario.prompt_set
    response = client.get(
        f"/api/v1/exports/pairs?prompt_set={ps.id}&columns=core", headers=researcher_headers
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="ranklab-pairs-{ps.name}.jsonl"'
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 14 and set(lines[0]) == {"prompt", "chosen", "rejected"}


def test_export_by_session_cookie_and_split(client, session, scenario):
    user = make_user(session, role="admin")
    login(client, user.username, DEFAULT_PASSWORD)
    ps = scenario.prompt_set
    train = client.get(f"/api/v1/exports/rankings?prompt_set={ps.id}&split=train&test_fraction=0.5")
    test = client.get(f"/api/v1/exports/rankings?prompt_set={ps.id}&split=test&test_fraction=0.5")
    assert train.status_code == test.status_code == 200
    assert 'train.jsonl"' in train.headers["content-disposition"]
    assert len(train.text.splitlines()) + len(test.text.splitlines()) == 6


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("/api/v1/exports/triples?prompt_set={ps}", 404, "Unknown export format 'triples'"),
        ("/api/v1/exports/pairs?prompt_set=999999", 404, "No prompt set '999999'"),
        ("/api/v1/exports/pairs?prompt_set=no-such-set", 404, "No prompt set 'no-such-set'"),
        ("/api/v1/exports/pairs", 422, "Choose at least one prompt set"),
        ("/api/v1/exports/pairs?prompt_set={ps}&created_after=yesterday", 422, "created_after"),
        (
            "/api/v1/exports/pairs?prompt_set={ps}&created_after=2026-02-01&created_before=2026-01-01",
            422,
            "created_after must be earlier than created_before",
        ),
        ("/api/v1/exports/pairs?prompt_set={ps}&test_fraction=1", 422, "test_fraction"),
        ("/api/v1/exports/pairs?prompt_set={ps}&test_fraction=-0.1", 422, "test_fraction"),
        ("/api/v1/exports/pairs?prompt_set={ps}&file_type=xlsx", 422, "file_type"),
        ("/api/v1/exports/pairs?prompt_set={ps}&columns=some", 422, "columns"),
        (
            "/api/v1/exports/pairs?prompt_set={ps}&exclude_flags=ugly",
            422,
            "unknown flag kind 'ugly'",
        ),
        (
            "/api/v1/exports/pairs?prompt_set={ps}&annotators=nobody",
            422,
            "Unknown annotator 'nobody'",
        ),
        ("/api/v1/exports/pairs?prompt_set={ps}&min_agreement=2", 422, "min_agreement"),
        ("/api/v1/exports/pairs?prompt_set={ps}&tokenizer=/no/such/model", 422, "choose one of"),
        ("/api/v1/prompt-sets/999999/stats", 404, "Prompt set 999999 does not exist."),
    ],
)
def test_bad_options_get_a_clear_4xx(client, scenario, researcher_headers, query, status, message):
    response = client.get(query.format(ps=scenario.prompt_set.id), headers=researcher_headers)
    assert response.status_code == status
    body = response.json()
    assert body["ok"] is False and body["status"] == status
    assert message in body["error"]


def test_export_needs_researcher_or_admin(client, session, scenario):
    annotator = make_user(session, role="annotator")
    url = f"/api/v1/exports/pairs?prompt_set={scenario.prompt_set.id}"
    denied = client.get(url, headers={"Authorization": f"Bearer {make_token(session, annotator)}"})
    assert denied.status_code == 403 and "researcher" in denied.json()["error"]
    assert client.get(url).status_code == 401
    stats = f"/api/v1/prompt-sets/{scenario.prompt_set.id}/stats"
    assert client.get(stats).status_code == 401


def test_stats_endpoint(client, scenario, researcher_headers):
    response = client.get(
        f"/api/v1/prompt-sets/{scenario.prompt_set.id}/stats", headers=researcher_headers
    )
    assert response.status_code == 200
    stats = response.json()
    assert stats["annotations"] == 6
    assert stats["comparisons"] == 3 + 3 + 2 + 5 + 6 + 1
    assert stats["annotators"] == 3 and stats["prompts_with_2plus_annotators"] == 2
    assert isinstance(stats["alpha_ordinal"], float)
    assert 0 <= stats["pairwise_agreement_rate"] <= 1
    assert stats["tie_rate"] > 0 and stats["flag_rates"]["unsafe"] > 0
    assert stats["all_bad_rate"] == pytest.approx(1 / 6)
    models = {m["model"]: m for m in stats["models"]}
    assert set(models) == {"model-a", "model-b"}
    assert all(m["wins"] + m["losses"] > 0 for m in models.values())


def test_research_page_previews_rows_and_count(client, session, scenario):
    user = make_user(session, role="researcher")
    login(client, user.username, DEFAULT_PASSWORD)
    ps = scenario.prompt_set
    page = client.get(f"/research?prompt_set={ps.id}&format=pairs&columns=core")
    assert page.status_code == 200
    assert "<strong data-row-count>14</strong>" in page.text
    assert f"/api/v1/exports/pairs?prompt_set={ps.id}&amp;columns=core" in page.text
    assert "Krippendorff" in page.text and "model-a" in page.text
    bad = client.get(f"/research?prompt_set={ps.id}&format=pairs&test_fraction=2")
    assert bad.status_code == 422 and "test_fraction" in bad.text


def test_research_context_lists_sets_and_preview(session, scenario):
    ctx = research_home_context(
        session,
        {"format": "consensus", "prompt_set": [str(scenario.prompt_set.id)]},
        secret_key="k" * 48,
        default_model="smollm2",
    )
    assert scenario.prompt_set.name in [s["name"] for s in ctx["prompt_sets"]]
    assert ctx["preview"]["total"] == 8 and len(ctx["preview"]["rows"]) == 5
    assert ctx["stats"][0]["annotations"] == 6


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"include_all_bad": "true"},
        {"exclude_gold": "true"},
        {"created_after": "2000-01-01T00:00:00"},
        {"format": "conversational", "exclude_gold": "true", "include_all_bad": "true"},
        {"ties": "both"},  # a Python-side filter: counted by reading the rows (small data)
        {"format": "consensus"},
    ],
)
def test_preview_row_count_equals_the_rows_of_the_export(session, scenario, options):
    """The research preview's count (SQL or tallies, never the whole export) is the number
    of rows the export holds."""
    from app.exports import service

    raw = {"format": "pairs", "prompt_set": [str(scenario.prompt_set.id)], **options}
    plan = service.parse_options(session, raw, secret_key="k" * 48, default_model="smollm2")
    rows, count = service.preview(session, plan, 2)
    expected = list(service.iter_rows(session, plan))
    assert count.exact and count.rows == len(expected) > 0
    assert rows == expected[:2]
    capped = service.preview(session, plan, 2, cap=1)[1]
    if service.count_pair_rows(session, plan.options) is None:
        assert (capped.rows, capped.exact) == (1, False)  # "at least 1 row"
