"""Generators over HTTP (both databases): defining them, 422s that name the generator,
previewing and applying a later change, and annotators never seeing generators."""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.exports import service as service_exports
from app.generation.models import GenerationJob, GenerationTask
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.annotation import lease_and_submit
from tests.factories.prompt_sets import make_prompt_set
from tests.support.http import csrf_from, login
from tests.support.sessions import SharedSession

pytestmark = pytest.mark.one_backend  # generator definitions and their 422s

LOCAL = {"backend": "transformers", "max_new_tokens": 16}
TEAM = {"recipe": "draft_critique_revise", "drafter": "cool", "critic": "warm"}


def _admin(session: Session) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, make_user(session, role='admin'))}"}


def test_a_set_is_created_with_models_and_a_pipeline(client: TestClient, session: Session):
    body = {
        "name": "arena",
        "candidates_per_prompt": 3,
        "generators": [
            {"name": "cool", "settings": {**LOCAL, "temperature": 0.2}},
            {
                "name": "warm",
                "settings": {**LOCAL, "temperature": 1.1},
                "system_prompt": "Be brief.",
            },
            {"name": "team", "pipeline": TEAM},
        ],
    }
    response = client.post("/api/v1/prompt-sets", json=body, headers=_admin(session))
    assert response.status_code == 201, response.text
    stored = response.json()["generators"]
    assert [g["name"] for g in stored] == ["cool", "warm", "team"]
    assert stored[1]["settings"]["temperature"] == 1.1 and stored[1]["system_prompt"] == "Be brief."
    assert stored[2]["pipeline"]["drafter"] == "cool"


def test_a_set_without_generators_gets_one_from_its_settings(client, session):
    response = client.post(
        "/api/v1/prompt-sets",
        json={"name": "plain", "generation": {"temperature": 0.5}},
        headers=_admin(session),
    )
    [only] = response.json()["generators"]
    assert only["name"] == "default" and only["settings"]["temperature"] == 0.5


@pytest.mark.parametrize(
    ("generators", "expected"),
    [
        ([{"name": "hot", "settings": {"top_p": 3}}], "generator 'hot': settings.top_p"),
        ([{"name": "hot", "settings": {"backend": "llamas"}}], "generator 'hot': settings.backend"),
        (
            [{"name": "a", "settings": {}}, {"name": "a", "settings": {}}],
            "'a': name: the name is used twice",
        ),
        (
            [
                {"name": "t", "pipeline": {**TEAM, "critic": "ghost"}},
                {"name": "cool", "settings": {}},
            ],
            "'t': pipeline: unknown agent 'ghost'",
        ),
        (
            [
                {
                    "name": "p",
                    "pipeline": {"recipe": "ensemble_merge", "members": ["q", "q"], "merger": "q"},
                },
                {
                    "name": "q",
                    "pipeline": {"recipe": "draft_critique_revise", "drafter": "p", "critic": "p"},
                },
            ],
            "cycle p -> q -> p",
        ),
        (
            [{"name": "t", "pipeline": {"recipe": "ensemble_merge", "members": ["a"]}}],
            "at least two members",
        ),
        ([{"name": "x", "settings": {}, "competes": False}], "at least one generator must compete"),
        ([{"name": "bad name!", "settings": {}}], "generator 'bad name!': name"),
    ],
)
def test_bad_generators_are_422_naming_generator_and_field(
    client: TestClient, session: Session, generators, expected
):
    headers = _admin(session)
    response = client.post(
        "/api/v1/prompt-sets", json={"name": "bad", "generators": generators}, headers=headers
    )
    assert response.status_code == 422, response.text
    assert expected in response.text
    assert session.scalar(select(func.count()).select_from(PromptSet)) == 0
    ps = make_prompt_set(session, prompts=1)
    patched = client.patch(
        f"/api/v1/prompt-sets/{ps.id}", json={"generators": generators}, headers=headers
    )
    assert patched.status_code == 422 and expected in patched.text


def _two_candidates_each_by(session: Session, ps: PromptSet, name: str) -> None:
    for c in session.scalars(select(Candidate).join(Prompt).where(Prompt.prompt_set_id == ps.id)):
        c.generator = name
    ps.generators = [{"name": name, "competes": True, "settings": LOCAL}]
    session.commit()


def test_adding_a_generator_makes_only_its_share_of_unannotated_prompts(client, session):
    headers = _admin(session)
    ps = make_prompt_set(session, prompts=4, candidates=2, annotators_per_prompt=1)
    _two_candidates_each_by(session, ps, "cool")
    lease_and_submit(session, ps.id, make_user(session))  # one prompt is annotated: kept
    new = [
        {"name": "cool", "settings": LOCAL},
        {"name": "warm", "settings": {**LOCAL, "temperature": 1.3}},
    ]
    preview = client.post(
        f"/api/v1/prompt-sets/{ps.id}/generators/preview", json={"generators": new}, headers=headers
    )
    assert preview.status_code == 200, preview.text
    assert preview.json() == {
        "prompts": 3,
        "annotated_prompts_kept": 1,
        "delete": {"cool": 3},
        "generate": {"warm": 3},
        "changed_generators": [],
    }
    assert session.scalar(select(func.count()).select_from(Candidate)) == 8  # nothing changed

    response = client.patch(
        f"/api/v1/prompt-sets/{ps.id}",
        json={"generators": new, "regenerate": True},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    job = session.get(GenerationJob, response.json()["regeneration_job_id"])
    assert job.total == 3 and set(job.generators) == {"cool", "warm"}
    plans = session.scalars(select(GenerationTask.plan).where(GenerationTask.job_id == job.id))
    assert [sorted(p.values()) for p in plans] == [["warm"]] * 3
    left = Counter(session.scalars(select(Candidate.generator)))
    assert left == {"cool": 5}  # 2 on the annotated prompt, 1 kept on each other prompt


def test_annotators_never_see_generators_or_transcripts(client: TestClient, session: Session):
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=1)
    for c in session.scalars(select(Candidate)):
        c.generator = "secret-team"
        c.transcript = [{"agent": "secret-agent", "role": "critique", "text": "hidden critique"}]
    session.commit()
    annotator = make_user(session)
    headers = {"Authorization": f"Bearer {make_token(session, annotator)}"}
    response = client.get(f"/api/v1/tasks/next?prompt_set={ps.id}", headers=headers)
    assert response.status_code == 200
    assert set(response.json()["candidates"][0]) == {"id", "label", "text"}
    for secret in ("secret-team", "secret-agent", "hidden critique", "transcript"):
        assert secret not in response.text
    login(client, annotator.username, DEFAULT_PASSWORD)
    page = client.get(f"/annotate/{ps.id}/item")
    assert page.status_code == 200
    for secret in ("secret-team", "secret-agent", "hidden critique"):
        assert secret not in page.text
    # Researchers and admins can open the transcript.
    admin = _admin(session)
    listed = client.get(f"/api/v1/prompt-sets/{ps.id}/prompts?include=candidates", headers=admin)
    [candidate, *_] = listed.json()["items"][0]["candidates"]
    assert candidate["generator"] == "secret-team"
    assert candidate["transcript"][0]["text"] == "hidden critique"
    prompt_page = client.get(f"/admin/prompts/{listed.json()['items'][0]['id']}", headers=admin)
    assert (
        "Pipeline transcript (1 steps)" in prompt_page.text
        and "hidden critique" in prompt_page.text
    )


def _export(session: Session, ps: PromptSet, fmt: str, **raw: object) -> bytes:
    plan = service_exports.parse_options(
        session,
        {"format": fmt, "prompt_set": [ps.id], **raw},
        secret_key="k" * 48,
        default_model="smollm2",
    )
    return b"".join(service_exports.export_chunks(lambda: SharedSession(session), plan))


def test_exports_name_the_generators_and_the_card_lists_them(session: Session):
    ps = make_prompt_set(session, prompts=1, candidates=2, annotators_per_prompt=1)
    ps.generators = [
        {"name": "cool", "competes": True, "settings": {**LOCAL, "temperature": 0.2}},
        {
            "name": "team",
            "competes": True,
            "pipeline": {"recipe": "draft_critique_revise", "drafter": "cool", "critic": "cool"},
        },
    ]
    first, second = session.scalars(select(Candidate).order_by(Candidate.position)).all()
    first.generator, second.generator = "cool", "team"
    second.model = "draft_critique_revise(cool)"
    session.commit()
    lease_and_submit(session, ps.id, make_user(session))
    for fast in ("jsonl", "parquet"):
        body = _export(session, ps, "pairs", file_type=fast)
        if fast == "jsonl":
            [row] = [json.loads(line) for line in body.splitlines()]
        else:
            [row] = pq.read_table(io.BytesIO(body)).to_pylist()
        assert {row["chosen_generator"], row["rejected_generator"]} == {"cool", "team"}
        made_by = {
            row["chosen_generator"]: row["chosen_model"],
            row["rejected_generator"]: row["rejected_model"],
        }
        assert made_by["team"] == "draft_critique_revise(cool)"
    bundle = zipfile.ZipFile(io.BytesIO(_export(session, ps, "pairs", bundle=True)))
    card = bundle.read("README.md").decode()
    assert "## Generators" in card
    assert "cool: transformers smollm2, temperature 0.2" in card
    assert "team: pipeline draft" in card and "(drafter cool, critic cool)" in card


def test_the_admin_form_takes_generators_as_json(client: TestClient, session: Session):
    admin = make_user(session, role="admin")
    login(client, admin.username, DEFAULT_PASSWORD)
    page = client.get("/admin/prompt-sets/new")
    assert 'name="generators_json"' in page.text
    form = {
        "csrf_token": csrf_from(page.text),
        "name": "Arena form",
        "candidates_per_prompt": "2",
        "annotators_per_prompt": "1",
        "lease_seconds": "1800",
        "backend": "transformers",
        "model": "smollm2",
        "temperature": "0.8",
        "top_p": "0.95",
        "max_new_tokens": "16",
    }
    broken = client.post("/admin/prompt-sets/new", data={**form, "generators_json": "[{"})
    assert broken.status_code == 422 and "generators: not valid JSON" in broken.text
    unknown = json.dumps([{"name": "t", "pipeline": {**TEAM}}])
    bad = client.post("/admin/prompt-sets/new", data={**form, "generators_json": unknown})
    assert bad.status_code == 422 and "unknown agent" in bad.text
    assert "&#34;recipe&#34;" in bad.text or "&quot;recipe&quot;" in bad.text  # input kept
    two = json.dumps(
        [
            {"name": "cool", "settings": {"temperature": 0.2}},
            {"name": "warm", "settings": {"temperature": 1.2}},
        ]
    )
    good = client.post(
        "/admin/prompt-sets/new", data={**form, "generators_json": two}, follow_redirects=False
    )
    assert good.status_code == 303, good.text
    ps = session.scalar(select(PromptSet).where(PromptSet.name == "Arena form"))
    assert [g["name"] for g in ps.generators] == ["cool", "warm"]
    edit = client.get(f"/admin/prompt-sets/{ps.id}/edit")
    assert "warm" in edit.text
