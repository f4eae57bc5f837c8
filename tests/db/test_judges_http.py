"""Judges over HTTP (both databases): create, edit into versions, list; 422s that name the
field and change nothing; runs started, watched and cancelled; the admin pages' forms and
their escaped failures."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.judges.models import Judge, JudgeRanking, JudgeRun
from app.prompt_sets.models import Prompt
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.prompt_sets import make_prompt_set
from tests.support.http import csrf_from, login

pytestmark = pytest.mark.one_backend  # judge definitions and their 422s

SERVER = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "judge-m"}


def _headers(session: Session, role: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, make_user(session, role=role))}"}


def _url(prompt_set_id: int, tail: str = "") -> str:
    return f"/api/v1/prompt-sets/{prompt_set_id}/judges{tail}"


def _judge_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Judge)) or 0


def test_a_judge_is_created_edited_into_versions_and_listed(client: TestClient, session):
    ps = make_prompt_set(session, prompts=2)
    admin = _headers(session)
    created = client.post(
        _url(ps.id), json={"name": "strict", "mode": "pairwise", "settings": SERVER}, headers=admin
    )
    assert created.status_code == 201, created.text
    v1 = created.json()
    assert (v1["version"], v1["mode"], v1["is_current"]) == (1, "pairwise", True)
    assert v1["settings"] == {**SERVER, "temperature": 0.0, "max_new_tokens": 64}
    assert "{prompt}" in v1["rubric"] and v1["suggest_to_annotators"] is False

    rubric = "Judge kindness only.\n{prompt}\n---\n{candidates}"
    edited = client.patch(
        _url(ps.id, f"/{v1['id']}"),
        json={"rubric": rubric, "settings": {**SERVER, "max_new_tokens": 8}},
        headers=admin,
    )
    assert edited.status_code == 201, edited.text
    v2 = edited.json()
    assert (v2["version"], v2["name"], v2["mode"], v2["rubric"]) == (
        2,
        "strict",
        "pairwise",
        rubric,
    )
    assert v2["settings"]["max_new_tokens"] == 8 and v2["id"] != v1["id"]

    researcher = _headers(session, "researcher")
    listed = client.get(_url(ps.id), headers=researcher).json()
    assert [(j["name"], j["version"]) for j in listed] == [("strict", 2)]
    every = client.get(_url(ps.id) + "?all_versions=true", headers=researcher).json()
    assert [(j["version"], j["is_current"]) for j in every] == [(2, True), (1, False)]
    old = client.get(_url(ps.id, f"/{v1['id']}"), headers=researcher).json()
    assert old["rubric"] != rubric and old["is_current"] is False

    stale = client.patch(_url(ps.id, f"/{v1['id']}"), json={"mode": "listwise"}, headers=admin)
    assert stale.status_code == 409 and "replaced by a newer version" in stale.json()["error"]
    taken = client.post(_url(ps.id), json={"name": "strict", "settings": SERVER}, headers=admin)
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "name"
    assert _judge_count(session) == 2


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"settings": {"temperature": 3}}, "settings.temperature", "outside 0..2"),
        ({"settings": {"temperature": [0.1, 0.2]}}, "settings.temperature", "one temperature"),
        ({"settings": {"backend": "vllm"}}, "settings.backend", "unknown backend 'vllm'"),
        ({"settings": {"max_new_tokens": 0}}, "settings.max_new_tokens", "greater than or equal"),
        ({"settings": {"top_p": 0}}, "settings.top_p", "greater than 0"),
        ({"settings": {"beam_width": 4}}, "settings.beam_width", "unknown setting"),
        ({"settings": {"model": "/nowhere/model.gguf"}}, "settings.model", "/nowhere/model.gguf"),
        ({"settings": {"backend": "openai"}}, "settings.base_url", "http(s) URL required"),
        ({"rubric": "Rank these: {candidates}"}, "rubric", "needs the placeholder {prompt}"),
        ({"rubric": "{prompt} {candidates} {answer}"}, "rubric", "unknown placeholder {answer}"),
        ({"mode": "elo"}, "mode", "listwise"),
        ({"name": "two words"}, "name", "pattern"),
    ],
)
def test_bad_judge_input_is_a_422_naming_the_field_and_writes_nothing(
    client: TestClient, session, body, field, message
):
    ps = make_prompt_set(session, prompts=1)
    response = client.post(_url(ps.id), json={"name": "j", **body}, headers=_headers(session))
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["field"] in (field, f"body.{field}") for e in errors), errors
    assert message in response.text
    assert _judge_count(session) == 0


def test_an_edit_with_bad_settings_writes_no_version(client: TestClient, session):
    ps = make_prompt_set(session, prompts=1)
    admin = _headers(session)
    v1 = client.post(_url(ps.id), json={"name": "j", "settings": SERVER}, headers=admin).json()
    bad = client.patch(_url(ps.id, f"/{v1['id']}"), json={"settings": {"seed": -1}}, headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "settings.seed"
    assert _judge_count(session) == 1 and session.get(Judge, v1["id"]).is_current


def test_runs_are_started_watched_and_cancelled(client: TestClient, session):
    ps = make_prompt_set(session, prompts=3)
    make_prompt_set(session, prompts=1)  # another set's prompts are not this judge's
    admin = _headers(session)
    judge = client.post(_url(ps.id), json={"name": "j", "settings": SERVER}, headers=admin).json()
    started = client.post(_url(ps.id, f"/{judge['id']}/runs"), headers=admin)
    assert started.status_code == 202, started.text
    run = started.json()
    assert (run["status"], run["total"], run["done"], run["version"]) == ("queued", 3, 0, 1)
    again = client.post(_url(ps.id, f"/{judge['id']}/runs"), headers=admin)
    assert again.status_code == 409 and f"run #{run['id']}" in again.json()["error"]

    watched = client.get(run["progress_url"], headers=_headers(session, "researcher"))
    assert watched.status_code == 200 and watched.json()["id"] == run["id"]
    cancelled = client.post(run["progress_url"] + "/cancel", headers=admin)
    assert cancelled.json()["status"] == "cancelled"
    assert client.post(run["progress_url"] + "/cancel", headers=admin).status_code == 409

    other = make_prompt_set(session, prompts=1)
    assert (
        client.get(
            f"/api/v1/prompt-sets/{other.id}/judge-runs/{run['id']}", headers=admin
        ).status_code
        == 404
    )
    assert client.get(_url(other.id, f"/{judge['id']}"), headers=admin).status_code == 404


def test_annotators_cannot_see_or_make_judges(client: TestClient, session):
    ps = make_prompt_set(session, prompts=1)
    annotator = _headers(session, "annotator")
    assert client.get(_url(ps.id), headers=annotator).status_code == 403
    response = client.post(_url(ps.id), json={"name": "j", "settings": SERVER}, headers=annotator)
    assert response.status_code == 403 and _judge_count(session) == 0


def _admin_browser(client: TestClient, session) -> None:
    make_user(session, role="admin", username="judge-admin")
    assert login(client, "judge-admin", DEFAULT_PASSWORD).status_code == 303


def test_the_admin_page_creates_a_judge_and_rerenders_bad_input(client: TestClient, session):
    ps = make_prompt_set(session, prompts=2)
    _admin_browser(client, session)
    page = client.get(f"/admin/prompt-sets/{ps.id}/judges")
    assert page.status_code == 200 and "No judge yet." in page.text
    form = {
        "csrf_token": csrf_from(page.text),
        "name": "kind",
        "mode": "listwise",
        "rubric": "Kindness.\n{prompt}\n{candidates}",
        "settings": '{"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "temperature": 9}',
    }
    bad = client.post(f"/admin/prompt-sets/{ps.id}/judges", data=form)
    assert bad.status_code == 422 and "settings.temperature" in bad.text
    assert "Kindness." in bad.text and _judge_count(session) == 0  # the input is kept
    broken = client.post(f"/admin/prompt-sets/{ps.id}/judges", data={**form, "settings": "{"})
    assert broken.status_code == 422 and "not valid JSON" in broken.text

    form["settings"] = '{"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}'
    made = client.post(f"/admin/prompt-sets/{ps.id}/judges", data=form, follow_redirects=False)
    assert made.status_code == 303
    judge = session.scalar(select(Judge).where(Judge.name == "kind"))
    assert made.headers["location"] == f"/admin/prompt-sets/{ps.id}/judges/{judge.id}"
    no_csrf = client.post(f"/admin/prompt-sets/{ps.id}/judges", data={**form, "csrf_token": ""})
    assert no_csrf.status_code == 403 and _judge_count(session) == 1


def test_the_judge_page_shows_failures_escaped(client: TestClient, session):
    ps = make_prompt_set(session, prompts=1)
    _admin_browser(client, session)
    judge = Judge(prompt_set_id=ps.id, name="j", settings=SERVER, rubric="{prompt}{candidates}")
    session.add(judge)
    session.flush()
    run = JudgeRun(judge_id=judge.id, status="done", total=1, failed=1)
    session.add(run)
    session.flush()
    prompt_id = session.scalar(select(Prompt.id).where(Prompt.prompt_set_id == ps.id))
    session.add(
        JudgeRanking(
            judge_id=judge.id,
            prompt_id=prompt_id,
            run_id=run.id,
            status="failed",
            raw_output="<script>alert('x')</script> B > A",
            error="unparseable: label C missing",
        )
    )
    session.commit()
    page = client.get(f"/admin/prompt-sets/{ps.id}/judges/{judge.id}")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; B &gt; A" in page.text
    assert "<script>alert" not in page.text
    assert "unparseable: label C missing" in page.text
    dashboard = client.get(f"/admin/prompt-sets/{ps.id}")
    assert f'href="/admin/prompt-sets/{ps.id}/judges"' in dashboard.text
