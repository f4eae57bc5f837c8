"""Prompt sets over the API and the admin pages: create, edit, status, prompts, gold, dashboard."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.admin.prompt_set_pages import dashboard_context
from app.analytics.annotators import gold_scores
from app.analytics.reports import annotator_stats
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.annotation import make_annotation, make_skip
from tests.factories.prompt_sets import make_prompt, make_prompt_set
from tests.support.http import csrf_from, login

pytestmark = pytest.mark.one_backend  # admin forms and API: no claim, submit or export

NEW_SET = {
    "name": "Helpfulness v1",
    "description": "First round",
    "guidelines": "# Rank by *helpfulness*\n<script>alert(1)</script>",
    "system_prompt": "You are helpful.",
    "candidates_per_prompt": 3,
    "annotators_per_prompt": 2,
    "lease_seconds": 900,
    "require_rationale": True,
    "require_ratings": False,
    "confirm_untouched_order": False,
    "generation": {
        "backend": "transformers",
        "model": "smollm2",
        "temperature": [0.5, 0.8, 1.1],
        "top_p": 0.9,
        "max_new_tokens": 128,
    },
}


@pytest.fixture
def admin_headers(session: Session) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, make_user(session, role='admin'))}"}


@pytest.fixture
def admin_client(client: TestClient, session: Session) -> TestClient:
    admin = make_user(session, role="admin")
    assert login(client, admin.username, DEFAULT_PASSWORD).status_code == 303
    return client


def test_api_creates_reads_and_patches_a_prompt_set(
    client: TestClient, session: Session, admin_headers: dict
) -> None:
    created = client.post("/api/v1/prompt-sets", json=NEW_SET, headers=admin_headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body[k] for k in NEW_SET} == NEW_SET
    assert body["status"] == "active" and body["prompts"] == 0
    set_id = body["id"]
    assert (
        client.get(f"/api/v1/prompt-sets/{set_id}", headers=admin_headers).json()["name"]
        == NEW_SET["name"]
    )
    patched = client.patch(
        f"/api/v1/prompt-sets/{set_id}",
        json={"status": "paused", "annotators_per_prompt": 5},
        headers=admin_headers,
    )
    assert patched.status_code == 200
    assert (patched.json()["status"], patched.json()["annotators_per_prompt"]) == ("paused", 5)
    assert session.get(PromptSet, set_id).generation["temperature"] == [0.5, 0.8, 1.1]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"candidates_per_prompt": 9}, "candidates_per_prompt"),
        ({"generation": {"temperature": [0.5, 0.7]}}, "generation.temperature"),
        ({"generation": {"top_p": 1.5}}, "generation.top_p"),
        # The worker's limit is the API's: no set is accepted that no job could run.
        ({"generation": {"max_new_tokens": 4097}}, "generation.max_new_tokens"),
        ({"name": ""}, "name"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_api_rejects_bad_settings_and_writes_nothing(
    client: TestClient, session: Session, admin_headers: dict, change: dict, field: str
) -> None:
    response = client.post("/api/v1/prompt-sets", json={**NEW_SET, **change}, headers=admin_headers)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert session.scalar(select(func.count()).select_from(PromptSet)) == 0


def test_duplicate_name_is_a_field_error(
    client: TestClient, session: Session, admin_headers: dict
) -> None:
    make_prompt_set(session, name=NEW_SET["name"], prompts=0)
    response = client.post("/api/v1/prompt-sets", json=NEW_SET, headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"


def test_browser_form_creates_a_set_and_failures_rerender_with_errors(
    admin_client: TestClient, session: Session
) -> None:
    page = admin_client.get("/admin/prompt-sets/new")
    token = csrf_from(page.text)
    # A new set asks before the order as shown is submitted, unless the admin unticks it.
    assert 'name="confirm_untouched_order" checked' in page.text
    form = {
        "csrf_token": token,
        "name": "Form set",
        "candidates_per_prompt": "4",
        "annotators_per_prompt": "3",
        "lease_seconds": "1800",
        "backend": "transformers",
        "model": "smollm2",
        "temperature": "0.7, 0.9",
        "top_p": "0.95",
        "max_new_tokens": "64",
        "guidelines": "**Be kind**",
        "require_ratings": "on",
    }
    bad = admin_client.post("/admin/prompt-sets/new", data=form)
    assert bad.status_code == 422
    assert "2 values for 4 candidates" in bad.text and 'value="Form set"' in bad.text
    preview = admin_client.post("/admin/prompt-sets/new", data={**form, "action": "preview"})
    assert preview.status_code == 200 and "<strong>Be kind</strong>" in preview.text
    good = admin_client.post(
        "/admin/prompt-sets/new", data={**form, "temperature": "0.8"}, follow_redirects=False
    )
    assert good.status_code == 303
    ps = session.scalar(select(PromptSet).where(PromptSet.name == "Form set"))
    assert ps.require_ratings and not ps.require_rationale and ps.generation["temperature"] == 0.8
    assert not ps.confirm_untouched_order  # the box was not ticked in this post
    dashboard_page = admin_client.get(good.headers["location"])
    assert "Created prompt set" in dashboard_page.text


def test_status_buttons_pause_resume_and_archive(
    admin_client: TestClient, session: Session
) -> None:
    ps = make_prompt_set(session, prompts=1)
    token = csrf_from(admin_client.get(f"/admin/prompt-sets/{ps.id}").text)
    for status in ("paused", "active", "archived"):
        response = admin_client.post(
            f"/admin/prompt-sets/{ps.id}/status", data={"csrf_token": token, "status": status}
        )
        assert response.status_code == 200
        session.refresh(ps)
        assert ps.status == status


def test_browser_upload_imports_or_lists_bad_rows(
    admin_client: TestClient, session: Session
) -> None:
    ps = make_prompt_set(session, prompts=0)
    token = csrf_from(admin_client.get(f"/admin/prompt-sets/{ps.id}").text)
    bad = admin_client.post(
        f"/admin/prompt-sets/{ps.id}/imports",
        data={"csrf_token": token},
        files={"file": ("p.jsonl", b'{"prompt": "ok"}\n{"prompt": ""}\n')},
    )
    assert bad.status_code == 422
    assert "nothing was imported" in bad.text and "<td>2</td>" in bad.text
    good = admin_client.post(
        f"/admin/prompt-sets/{ps.id}/imports",
        data={"csrf_token": token},
        files={"file": ("p.csv", b"prompt,topic\nHello,greeting\n")},
    )
    assert good.status_code == 200 and "Imported 1 prompts" in good.text


def test_editing_generation_offers_regeneration_only_when_candidates_exist(
    admin_client: TestClient, session: Session
) -> None:
    without = make_prompt_set(session, prompts=1, candidates=None)
    assert "regenerate" not in admin_client.get(f"/admin/prompt-sets/{without.id}/edit").text
    # A seed set through the API: the form doesn't show it, and saving the form keeps it.
    with_candidates = make_prompt_set(
        session, prompts=1, candidates=4, generation={"model": "smollm2", "seed": 7}
    )
    page = admin_client.get(f"/admin/prompt-sets/{with_candidates.id}/edit")
    assert 'name="regenerate"' in page.text
    form = {
        "csrf_token": csrf_from(page.text),
        "name": with_candidates.name,
        "candidates_per_prompt": "4",
        "annotators_per_prompt": "3",
        "lease_seconds": "1800",
        "backend": "transformers",
        "model": "smollm2",
        "temperature": "1.2",
        "top_p": "0.9",
        "max_new_tokens": "64",
    }
    saved = admin_client.post(f"/admin/prompt-sets/{with_candidates.id}/edit", data=form)
    assert saved.status_code == 200 and "Existing candidates were kept" in saved.text
    session.refresh(with_candidates)
    assert with_candidates.generation["temperature"] == 1.2
    assert with_candidates.generation["seed"] == 7


def test_delete_prompt_without_annotations_but_archive_one_with(
    client: TestClient, session: Session, admin_headers: dict
) -> None:
    ps = make_prompt_set(session, prompts=0)
    fresh = make_prompt(session, ps, text="fresh")
    used = make_prompt(session, ps, text="used")
    ids = [c.id for c in session.scalars(select(Candidate).where(Candidate.prompt_id == used.id))]
    make_annotation(session, used, make_user(session), [ids])
    session.commit()
    assert (
        client.delete(f"/api/v1/prompts/{fresh.id}", headers=admin_headers).json()["outcome"]
        == "deleted"
    )
    assert (
        client.delete(f"/api/v1/prompts/{used.id}", headers=admin_headers).json()["outcome"]
        == "archived"
    )
    assert session.get(Prompt, fresh.id) is None
    session.refresh(used)
    assert used.status == "archived"


def test_gold_by_ranking_or_best_candidate_and_bad_ranking_is_refused(
    client: TestClient, session: Session, admin_headers: dict
) -> None:
    ps = make_prompt_set(session, prompts=1, candidates=3)
    prompt = session.scalar(select(Prompt).where(Prompt.prompt_set_id == ps.id))
    a, b, c = [
        x.id
        for x in session.scalars(
            select(Candidate).where(Candidate.prompt_id == prompt.id).order_by(Candidate.position)
        )
    ]
    url = f"/api/v1/prompts/{prompt.id}/gold"
    best = client.put(url, json={"best_candidate_id": b}, headers=admin_headers)
    assert best.json() == {"id": prompt.id, "is_gold": True, "gold_ranking": [[b], [a, c]]}
    bad = client.put(url, json={"ranking": [[a], [a, b]]}, headers=admin_headers)
    assert bad.status_code == 422 and "more than once" in bad.text
    full = client.put(url, json={"ranking": [[c], [a, b]]}, headers=admin_headers)
    assert full.json()["gold_ranking"] == [[c], [a, b]]
    cleared = client.delete(url, headers=admin_headers).json()
    assert cleared == {"id": prompt.id, "is_gold": False, "gold_ranking": None}


def test_gold_scores_count_only_the_gold_rankings_strict_orders() -> None:
    assert gold_scores([[2], [1, 3]], [[2], [1, 3]]) == (2, 2, True)
    assert gold_scores([[1], [2], [3]], [[2], [1, 3]]) == (1, 2, False)


def test_dashboard_and_annotator_stats_from_stored_annotations(
    admin_client: TestClient, session: Session
) -> None:
    ps = make_prompt_set(session, prompts=0, annotators_per_prompt=2)
    p1 = make_prompt(session, ps, text="one", candidates=2, models=["ours", "base"])
    p2 = make_prompt(session, ps, text="two", candidates=2, models=["ours", "base"], is_gold=True)
    c1 = [
        c.id
        for c in session.scalars(
            select(Candidate).where(Candidate.prompt_id == p1.id).order_by(Candidate.position)
        )
    ]
    c2 = [
        c.id
        for c in session.scalars(
            select(Candidate).where(Candidate.prompt_id == p2.id).order_by(Candidate.position)
        )
    ]
    p2.gold_ranking = [[c2[0]], [c2[1]]]
    ann = [make_user(session) for _ in range(3)]
    make_annotation(
        session, p1, ann[0], [[c1[0]], [c1[1]]], seconds=10, flags={str(c1[1]): ["broken"]}
    )
    make_annotation(session, p1, ann[1], [[c1[0]], [c1[1]]], seconds=30)
    make_annotation(session, p2, ann[0], [[c2[0]], [c2[1]]], seconds=20)
    make_annotation(session, p2, ann[2], [[c2[1]], [c2[0]]], seconds=40)
    make_skip(session, p1, ann[2])
    session.commit()

    ctx = dashboard_context(session, ps.id)
    p = ctx["progress"]
    assert (p.prompts, p.candidates, p.annotations, p.annotations_needed, p.items_complete) == (
        2,
        4,
        4,
        4,
        2,
    )
    assert ctx["per_hour"]["total"] == 4
    table = {row["model"]: (row["wins"], row["losses"]) for row in ctx["models"]["table"]}
    assert table == {"ours": (3, 1), "base": (1, 3)}

    rows = {r.username: r for r in annotator_stats(session, ps.id)}
    first = rows[ann[0].username]
    assert (first.annotations, first.median_seconds, first.flag_rate, first.skip_rate) == (
        2,
        15.0,
        0.5,
        0.0,
    )
    assert (first.gold_items, first.gold_accuracy, first.gold_top_match) == (1, 1.0, 1.0)
    third = rows[ann[2].username]
    assert (third.skip_rate, third.gold_accuracy) == (0.5, 0.0)
    assert rows[ann[1].username].agreement == 1.0  # agrees with the other judge of p1

    page = admin_client.get(f"/admin/prompt-sets/{ps.id}")
    assert page.status_code == 200 and "<svg" in page.text and "Bradley" in page.text
    people = admin_client.get(f"/admin/prompt-sets/{ps.id}/annotators")
    assert ann[2].username in people.text and "50.0%" in people.text


def test_dashboard_shows_generation_job_progress_and_the_stats_api_matches(
    admin_client: TestClient, session: Session, admin_headers: dict
) -> None:
    from app.generation.models import GenerationJob

    ps = make_prompt_set(session, prompts=4, candidates=None)
    session.add(GenerationJob(prompt_set_id=ps.id, status="running", total=4, done=1))
    session.commit()
    page = admin_client.get(f"/admin/prompt-sets/{ps.id}")
    assert 'data-job-status="running"' in page.text
    assert 'aria-valuenow="1"' in page.text and "dashboard.js" in page.text
    stats = admin_client.get(f"/api/v1/prompt-sets/{ps.id}/dashboard", headers=admin_headers).json()
    assert stats["progress"]["prompts"] == 4 and stats["progress"]["annotations_needed"] == 12
    assert [(j["status"], j["done"], j["total"]) for j in stats["generation_jobs"]] == [
        ("running", 1, 4)
    ]


def test_regenerate_after_settings_change_queues_a_job_for_unannotated_prompts(
    client: TestClient, session: Session, admin_headers: dict
) -> None:
    from app.generation.models import GenerationJob, GenerationTask

    ps = make_prompt_set(session, prompts=0)
    annotated = make_prompt(session, ps, text="annotated")
    untouched = make_prompt(session, ps, text="untouched")
    ids = [
        c.id for c in session.scalars(select(Candidate).where(Candidate.prompt_id == annotated.id))
    ]
    make_annotation(session, annotated, make_user(session), [ids])
    session.commit()
    response = client.patch(
        f"/api/v1/prompt-sets/{ps.id}",
        json={"generation": {"temperature": 1.3}, "regenerate": True},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    job_id = response.json()["regeneration_job_id"]
    assert session.get(GenerationJob, job_id).prompt_set_id == ps.id
    tasks = session.scalars(select(GenerationTask.prompt_id).where(GenerationTask.job_id == job_id))
    assert set(tasks) == {untouched.id}


def test_untrusted_text_is_escaped_on_admin_pages(
    admin_client: TestClient, session: Session
) -> None:
    ps = make_prompt_set(
        session, prompts=0, guidelines=NEW_SET["guidelines"], description="<b>d</b>"
    )
    prompt = make_prompt(session, ps, text="<img src=x onerror=alert(1)>", external_id="<i>x</i>")
    session.commit()
    pages = [
        admin_client.get(f"/admin/prompt-sets/{ps.id}").text,
        admin_client.get(f"/admin/prompt-sets/{ps.id}/prompts").text,
        admin_client.get(f"/admin/prompts/{prompt.id}").text,
    ]
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html and "<i>x</i>" not in html
    assert "<h1>Rank by <em>helpfulness</em></h1>" in pages[0]
