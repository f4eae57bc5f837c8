"""The leaderboard page and API over real comparisons (both databases)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.prompt_sets.models import Candidate, Prompt
from tests.factories.accounts import make_token, make_user
from tests.factories.annotation import make_annotation
from tests.factories.prompt_sets import make_prompt_set

LONG = "## Plan\n\n" + "- a **long** point that goes on and on\n" * 12


def _arena(session: Session, sets: int = 1) -> list[int]:
    """Sets whose prompts have one "long" and one "plain" candidate; "long" wins 3 of 4
    prompts, by writing long. Prompts carry a category."""
    ids = []
    annotator = make_user(session)
    for _ in range(sets):
        ps = make_prompt_set(session, prompts=4, candidates=2, annotators_per_prompt=1)
        ids.append(ps.id)
        prompts = session.scalars(select(Prompt).where(Prompt.prompt_set_id == ps.id)).all()
        for i, prompt in enumerate(prompts):
            prompt.meta = {"category": "code" if i % 2 else "chat"}
            long, plain = session.scalars(
                select(Candidate)
                .where(Candidate.prompt_id == prompt.id)
                .order_by(Candidate.position)
            ).all()
            long.generator, long.text = "long", LONG
            plain.generator, plain.text = "plain", "A short answer."
            first, second = (long, plain) if i < 3 else (plain, long)
            make_annotation(session, prompt, annotator, [[first.id], [second.id]])
        session.commit()
    return ids


def test_leaderboard_api_ranks_generators_with_intervals_and_categories(
    client: TestClient, session: Session
):
    [set_id] = _arena(session)
    headers = {
        "Authorization": f"Bearer {make_token(session, make_user(session, role='researcher'))}"
    }
    response = client.get(f"/api/v1/prompt-sets/{set_id}/leaderboard", headers=headers)
    assert response.status_code == 200, response.text
    board = response.json()
    assert board["comparisons"] == 4
    rows = {r["generator"]: r for r in board["generators"]}
    assert (rows["long"]["wins"], rows["long"]["losses"]) == (3, 1)
    assert rows["long"]["strength"] > rows["plain"]["strength"]
    assert rows["long"]["ci_low"] <= rows["long"]["strength"] <= rows["long"]["ci_high"]
    assert rows["long"]["styled_strength"] is not None
    assert set(board["style_coefficients"]) == {"length", "headers", "list_items", "bold"}
    assert {b["category"] for b in board["categories"]} == {"code", "chat"}
    names = board["matrix_names"]
    assert board["win_matrix"][names.index("long")][names.index("plain")] == 0.75


def test_leaderboard_pools_sets_by_generator_name(client: TestClient, session: Session):
    ids = _arena(session, sets=2)
    headers = {"Authorization": f"Bearer {make_token(session, make_user(session, role='admin'))}"}
    pooled = client.get(
        f"/api/v1/leaderboard?prompt_set={ids[0]}&prompt_set={ids[1]}", headers=headers
    )
    assert pooled.status_code == 200
    rows = {r["generator"]: r for r in pooled.json()["generators"]}
    assert (rows["long"]["wins"], rows["long"]["losses"]) == (6, 2)
    assert client.get("/api/v1/leaderboard?prompt_set=999999", headers=headers).status_code == 404


def test_leaderboard_page_draws_charts_and_escapes_names(client: TestClient, session: Session):
    [set_id] = _arena(session)
    session.execute(
        Candidate.__table__.update()
        .where(Candidate.generator == "plain")
        .values(generator="<b>x</b>")
    )
    session.commit()
    admin = make_user(session, role="admin")
    headers = {"Authorization": f"Bearer {make_token(session, admin)}"}
    page = client.get(f"/research/prompt-sets/{set_id}/leaderboard", headers=headers)
    assert page.status_code == 200, page.text
    assert page.text.count("<svg") == 3  # raw, style-controlled, win matrix
    assert "Style-controlled strength" in page.text and "Category: code" in page.text
    assert "<b>x</b>" not in page.text and "&lt;b&gt;x&lt;/b&gt;" in page.text
    researcher = {
        "Authorization": f"Bearer {make_token(session, make_user(session, role='researcher'))}"
    }
    assert client.get("/research/leaderboard", headers=researcher).status_code == 200
    annotator = {"Authorization": f"Bearer {make_token(session, make_user(session))}"}
    assert client.get("/research/leaderboard", headers=annotator).status_code == 403
    assert (
        client.get(f"/api/v1/prompt-sets/{set_id}/leaderboard", headers=annotator).status_code
        == 403
    )
