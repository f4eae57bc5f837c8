"""A corpus of bad input, one case per class that used to answer 5xx: every one gets a
clear 4xx naming what is wrong, and nothing is written."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import ApiToken, User
from app.prompt_sets.models import PromptSet
from tests.factories.accounts import make_token, make_user
from tests.factories.prompt_sets import make_prompt_set

BIG = 2**31


@pytest.fixture
def admin_headers(session: Session) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, make_user(session, role='admin'))}"}


def _counts(session: Session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (User, ApiToken, PromptSet)
    )


CASES = [
    # (method, path, body or raw text, status, words in the message)
    ("GET", f"/api/v1/prompt-sets/{BIG}", None, 422, "less than or equal to 2147483647"),
    ("GET", f"/api/v1/users/{10**20}", None, 422, "less than or equal to 2147483647"),
    ("GET", "/api/v1/prompt-sets/{ps}/prompts?after=" + str(BIG), None, 422, "after"),
    ("POST", "/api/v1/prompt-sets", {"name": "a\u0000b"}, 422, "name: contains a NUL"),
    ("POST", "/api/v1/prompt-sets", '{"name": "a\\ud800"}', 422, "name: contains an unpaired"),
    ("POST", "/api/v1/users", {"username": "x", "role": "annotator\u0000"}, 422, "role"),
    ("POST", "/api/v1/prompt-sets", "[" * 100_000 + "]" * 100_000, 422, "nested more than"),
    (
        "POST",
        "/api/v1/prompt-sets",
        {"name": "n", "description": [[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]},
        422,
        "nested more than 20",
    ),
    ("POST", "/api/v1/annotations", {"assignment_id": BIG, "ranking": []}, 422, "assignment_id"),
    ("GET", "/api/v1/me?x=%00", None, 422, "NUL"),
    ("PATCH", "/api/v1/prompt-sets/{ps}", {"regenerate": "maybe"}, 422, "regenerate"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), CASES)
def test_bad_input_gets_a_clear_4xx_and_writes_nothing(
    client: TestClient,
    session: Session,
    admin_headers: dict,
    method: str,
    path: str,
    body: object,
    status: int,
    message: str,
) -> None:
    ps = make_prompt_set(session, prompts=1)
    before = _counts(session)
    content = body if isinstance(body, str) else None if body is None else json.dumps(body)
    headers = admin_headers | {"Content-Type": "application/json"}
    response = client.request(method, path.format(ps=ps.id), content=content, headers=headers)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["ok"] is False and message in payload["error"] + json.dumps(payload["errors"])
    assert _counts(session) == before


def test_patch_with_explicit_nulls_changes_nothing_and_is_not_a_500(
    client: TestClient, session: Session, admin_headers: dict
) -> None:
    ps = make_prompt_set(session, prompts=1)
    name = ps.name
    body = {"name": None, "generation": None, "status": None, "lease_seconds": None}
    response = client.patch(f"/api/v1/prompt-sets/{ps.id}", json=body, headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == name
