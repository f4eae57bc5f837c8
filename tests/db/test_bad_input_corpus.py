"""A corpus of bad input, one case per class that used to answer 5xx: every one gets a
clear 4xx naming what is wrong, and nothing is written."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import ApiToken, User
from app.prompt_sets.models import Prompt, PromptSet
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.annotation import lease, row_counts
from tests.factories.prompt_sets import make_prompt_set
from tests.support.http import login, page_csrf

BIG = 2**31


@pytest.fixture
def admin_headers(session: Session) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, make_user(session, role='admin'))}"}


def _counts(session: Session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (User, ApiToken, PromptSet, Prompt)
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
    # Strict booleans and numbers: coercion would hide the mistake.
    (
        "POST",
        "/api/v1/prompt-sets",
        {"name": "n", "generation": {"temperature": False}},
        422,
        "must be a number, not true/false",
    ),
    (
        "POST",
        "/api/v1/prompt-sets",
        {"name": "n", "require_rationale": 1},
        422,
        "require_rationale",
    ),
    (
        "POST",
        "/api/v1/prompt-sets",
        {"name": "n", "generation": {"temperature": "Infinity"}},
        422,
        "finite",
    ),
    ("POST", "/api/v1/users/1/active", {"is_active": "no"}, 422, "is_active"),
    # Text that only looks like a number is a name, not an id (int('²') used to raise).
    ("GET", "/api/v1/exports/pairs?prompt_set=%C2%B2", None, 404, "No prompt set '²'"),
    ("GET", f"/admin/prompt-sets/{{ps}}/prompts?page={10**20}", None, 422, "page"),
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
    headers = admin_headers | {"Content-Type": "application/json", "Accept": "application/json"}
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


def test_a_huge_tie_group_gets_a_short_422(
    client: TestClient, session: Session, admin_headers: dict
) -> None:
    # 300,000 ids (a 2 MB body) once produced a 43 MB error listing each one.
    body = {"assignment_id": 1, "ranking": [list(range(1, 300_001))]}
    response = client.post("/api/v1/annotations", json=body, headers=admin_headers)
    assert response.status_code == 422
    assert "at most 8 responses" in response.json()["error"]
    assert len(response.content) < 2000


def test_the_ranking_rules_list_at_most_a_few_problems() -> None:
    from app.prompt_sets.ranking import MAX_LISTED_ERRORS, RankingInvalid, validate_ranking

    with pytest.raises(RankingInvalid) as caught:
        validate_ranking([list(range(100, 100_100))], [1, 2, 3])
    assert len(caught.value.errors) == MAX_LISTED_ERRORS + 1
    assert caught.value.errors[-1]["message"] == "and 99983 more problems"
    assert len(caught.value.message) < 3000


def _jsonl(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8", "surrogatepass")


# (file name, content, line, field, words in the message): every parser failure is a row
# error that names where, never a 500.
IMPORT_CASES = [
    ("a.jsonl", _jsonl('{"prompt": "a",'), 1, None, "bad JSON"),
    ("a.jsonl", _jsonl('{"prompt": "a", "id": ' + "7" * 5000 + "}"), 1, None, "4300 digits"),
    (
        "a.jsonl",
        _jsonl('{"prompt": "a", "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        1,
        None,
        "nested more than 20 levels",
    ),
    (
        "a.jsonl",
        _jsonl('{"prompt": "a", "metadata": ' + "[" * 30 + "]" * 30 + "}"),
        1,
        "metadata.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0",
        "nested more than 20 levels",
    ),
    ("a.jsonl", _jsonl('{"prompt": "a\\u0000b"}'), 1, "prompt", "NUL"),
    ("a.jsonl", b'{"prompt": "a\x00b"}\n', 1, None, "Invalid control character"),
    ("a.jsonl", _jsonl('{"prompt": "ok"}', '{"prompt": "a\\ud800"}'), 2, "prompt", "surrogate"),
    (
        "a.jsonl",
        _jsonl('{"prompt": "a", "candidates": ["x", {"text": "y", "model": "m\\u0000"}]}'),
        1,
        "candidates.1.model",
        "NUL",
    ),
    ("a.jsonl", b'{"prompt": "caf\xe9"}\n', 1, None, "not valid UTF-8"),
    ("a.jsonl", _jsonl('{"prompt": "a", "metadata": {"x": NaN}}'), 1, None, "NaN"),
    ("a.jsonl", _jsonl('{"prompt": "a", "metadata": {"x": 1e999}}'), 1, None, "too large"),
    # Unknown keys join the metadata, and its limit applies to the merged whole.
    ("a.jsonl", _jsonl(json.dumps({"prompt": "a", "notes": "x" * 30_000})), 1, "metadata", "20000"),
    ("a.csv", b"prompt,notes\na," + b"x" * 30_000 + b"\n", 2, "metadata", "20000"),
    ("a.csv", b'prompt,notes\n"a\x00b",1\n', 2, "prompt", "NUL"),
    (
        "a.csv",
        b'prompt,metadata\na,"{""k"": ' + b"[" * 5000 + b"]" * 5000 + b'}"\n',
        2,
        "metadata",
        "nested",
    ),
]


@pytest.mark.parametrize(("name", "content", "line", "field", "message"), IMPORT_CASES)
def test_an_import_turns_every_parser_failure_into_a_row_error(
    client: TestClient,
    session: Session,
    admin_headers: dict,
    name: str,
    content: bytes,
    line: int,
    field: str | None,
    message: str,
) -> None:
    ps = make_prompt_set(session, prompts=1)
    before = _counts(session)
    response = client.post(
        f"/api/v1/prompt-sets/{ps.id}/imports",
        files={"file": (name, content, "application/octet-stream")},
        headers=admin_headers,
    )
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [(line, field)], errors
    assert message in errors[0]["message"]
    assert len(response.content) < 5000
    assert _counts(session) == before


def test_annotate_form_numbers_that_only_look_like_digits_get_a_4xx(
    client: TestClient, session: Session
) -> None:
    ps = make_prompt_set(session, prompts=1)
    annotator = make_user(session, role="annotator")
    task = lease(session, ps.id, annotator)
    login(client, annotator.username, DEFAULT_PASSWORD)
    token = page_csrf(client, f"/annotate/{ps.id}")
    before = row_counts(session)
    url = f"/annotate/{ps.id}/submit"
    ranks = {f"rank_{c.id}": str(i) for i, c in enumerate(task.candidates, start=1)}
    base = {"csrf_token": token, "assignment_id": str(task.assignment_id), **ranks}
    bad_id = client.post(url, data=base | {"assignment_id": "²"}, follow_redirects=False)
    assert bad_id.status_code == 422 and "assignment_id" in bad_id.text
    first = f"rank_{task.candidates[0].id}"
    bad_rank = client.post(url, data=base | {first: "²"}, follow_redirects=False)
    assert bad_rank.status_code == 422 and "has no rank" in bad_rank.text
    bad_key = client.post(url, data=base | {"rank_²": "1", "rating_²": "²"}, follow_redirects=False)
    assert bad_key.status_code == 303  # fields that name no candidate are ignored
    skip = client.post(
        f"/annotate/{ps.id}/skip",
        data={"csrf_token": token, "assignment_id": "１"},  # a full-width digit
        follow_redirects=False,
    )
    assert skip.status_code == 422
    after = row_counts(session)
    assert after["annotation"] == before["annotation"] + 1  # only the valid submission


def test_multipart_form_text_is_held_to_the_same_rule(client: TestClient, session: Session) -> None:
    admin = make_user(session, role="admin")
    login(client, admin.username, DEFAULT_PASSWORD)
    token = page_csrf(client, "/admin/prompt-sets/new")
    before = _counts(session)
    response = client.post(
        "/admin/prompt-sets/new",
        data={"csrf_token": token, "name": "a\x00b"},
        files={"unused": ("x.txt", b"", "text/plain")},  # forces multipart/form-data
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert "name: contains a NUL" in response.text
    assert _counts(session) == before
