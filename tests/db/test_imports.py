"""Importing prompts: all or nothing, every bad row reported, duplicates skipped, streaming."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.prompt_sets.imports import import_prompts
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from tests.factories.accounts import make_token, make_user
from tests.factories.prompt_sets import make_prompt, make_prompt_set


def _jsonl(*rows: object) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()


def _upload(client: TestClient, token: str, prompt_set_id: int, name: str, content: bytes):
    return client.post(
        f"/api/v1/prompt-sets/{prompt_set_id}/imports",
        files={"file": (name, content, "application/octet-stream")},
        headers={"Authorization": f"Bearer {token}"},
    )


def _count(session: Session, model: type, prompt_set_id: int) -> int:
    query = select(func.count()).select_from(Prompt).where(Prompt.prompt_set_id == prompt_set_id)
    if model is Candidate:
        query = query.join(Candidate, Candidate.prompt_id == Prompt.id)
    return session.scalar(query)


@pytest.fixture
def admin_token(session: Session) -> str:
    return make_token(session, make_user(session, role="admin"))


@pytest.fixture
def empty_set(session: Session) -> PromptSet:
    return make_prompt_set(session, prompts=0)


GOOD = {"prompt": "What is the capital of France?"}
TOO_LONG = "x" * 50_001


@pytest.mark.parametrize(
    ("kind", "content", "line", "field", "message"),
    [
        ("bad JSON", _jsonl(GOOD, '{"prompt": "unclosed'), 2, None, "bad JSON"),
        ("missing field", _jsonl(GOOD, {"id": "a1"}), 2, "prompt", "missing field"),
        ("wrong type", _jsonl(GOOD, {"prompt": 42}), 2, "prompt", "must be text, not a number"),
        (
            "wrong type metadata",
            _jsonl({"prompt": "q", "metadata": [1]}),
            1,
            "metadata",
            "must be an object",
        ),
        ("empty text", _jsonl(GOOD, {"prompt": "   "}), 2, "prompt", "is empty"),
        (
            "bad role order",
            _jsonl(
                GOOD,
                {
                    "messages": [
                        {"role": "assistant", "content": "hi"},
                        {"role": "user", "content": "hey"},
                    ]
                },
            ),
            2,
            "messages[0].role",
            "bad role order",
        ),
        (
            "ends with assistant",
            _jsonl(
                {
                    "messages": [
                        {"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "hello"},
                    ]
                }
            ),
            1,
            "messages",
            "the last turn must be from the user",
        ),
        ("too long", _jsonl(GOOD, {"prompt": TOO_LONG}), 2, "prompt", "is too long"),
        (
            "duplicate id",
            _jsonl({"id": "q1", "prompt": "one"}, {"id": "q1", "prompt": "two"}),
            2,
            "id",
            "duplicate id 'q1': already used on line 1",
        ),
        (
            "too few candidates",
            _jsonl({"prompt": "q", "candidates": ["only one"]}),
            1,
            "candidates",
            "give between 2 and 8",
        ),
    ],
)
def test_a_bad_row_rejects_the_whole_file_with_its_line_and_reason(
    client: TestClient,
    session: Session,
    admin_token: str,
    empty_set: PromptSet,
    kind: str,
    content: bytes,
    line: int,
    field: str | None,
    message: str,
) -> None:
    response = _upload(client, admin_token, empty_set.id, "prompts.jsonl", content)
    assert response.status_code == 422, kind
    body = response.json()
    assert "nothing was imported" in body["error"]
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert (error["line"], error["field"]) == (line, field)
    assert message in error["message"]
    assert _count(session, Prompt, empty_set.id) == 0


def test_every_bad_row_is_listed_not_just_the_first(
    client: TestClient, session: Session, admin_token: str, empty_set: PromptSet
) -> None:
    content = _jsonl({"prompt": ""}, GOOD, "not json", {"prompt": 1})
    response = _upload(client, admin_token, empty_set.id, "p.jsonl", content)
    assert response.status_code == 422
    assert [e["line"] for e in response.json()["errors"]] == [1, 3, 4]
    assert _count(session, Prompt, empty_set.id) == 0


def test_bad_csv_row_reports_its_line(
    client: TestClient, session: Session, admin_token: str, empty_set: PromptSet
) -> None:
    content = b'id,prompt\n1,"fine"\n2,\n'
    response = _upload(client, admin_token, empty_set.id, "p.csv", content)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "line": 3,
            "field": "prompt",
            "message": "missing field: each row needs prompt (text) or messages",
        }
    ]


def test_csv_extra_columns_become_metadata(
    client: TestClient, session: Session, admin_token: str, empty_set: PromptSet
) -> None:
    content = (
        b"id,prompt,topic,difficulty\n"
        b'a1,"Explain tides, briefly.",oceans,easy\n'
        b'a2,"Line one\nline two",poetry,hard\n'
    )
    response = _upload(client, admin_token, empty_set.id, "p.csv", content)
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": 2, "skipped_duplicates": 0, "candidates": 0}
    prompts = session.scalars(
        select(Prompt).where(Prompt.prompt_set_id == empty_set.id).order_by(Prompt.external_id)
    ).all()
    assert [(p.external_id, p.text, p.meta) for p in prompts] == [
        ("a1", "Explain tides, briefly.", {"topic": "oceans", "difficulty": "easy"}),
        ("a2", "Line one\nline two", {"topic": "poetry", "difficulty": "hard"}),
    ]
    assert not any(p.candidates_ready for p in prompts)


def test_premade_candidates_are_stored_and_the_prompt_is_ready(
    client: TestClient, session: Session, admin_token: str, empty_set: PromptSet
) -> None:
    content = _jsonl(
        {
            "id": "c1",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Name a colour."},
            ],
            "candidates": [{"text": "Blue.", "model": "ours-v2"}, {"text": "Red", "model": "base"}],
            "metadata": {"split": "eval"},
        },
        {"prompt": "Plain", "candidates": ["A", "B", "C"]},
        {"prompt": "No candidates"},
    )
    response = _upload(client, admin_token, empty_set.id, "p.jsonl", content)
    assert response.json() == {"imported": 3, "skipped_duplicates": 0, "candidates": 5}
    chat = session.scalar(select(Prompt).where(Prompt.external_id == "c1"))
    assert chat.candidates_ready and chat.text is None and len(chat.messages) == 4
    assert chat.meta == {"split": "eval"}
    candidates = session.scalars(
        select(Candidate).where(Candidate.prompt_id == chat.id).order_by(Candidate.position)
    ).all()
    assert [(c.position, c.text, c.model, c.source) for c in candidates] == [
        (0, "Blue.", "ours-v2", "imported"),
        (1, "Red", "base", "imported"),
    ]
    plain = session.scalar(select(Prompt).where(Prompt.text == "No candidates"))
    assert not plain.candidates_ready


def test_duplicates_in_the_set_and_in_the_file_are_skipped_and_counted(
    client: TestClient, session: Session, admin_token: str, empty_set: PromptSet
) -> None:
    make_prompt(session, empty_set, text="Already here", candidates=None)
    session.commit()
    content = _jsonl(
        {"prompt": "Already here"},
        {"prompt": "  Already here\r\n"},  # normalises to the same content
        {"prompt": "New one"},
        {"prompt": "New one"},
        {"prompt": "Another"},
    )
    response = _upload(client, admin_token, empty_set.id, "p.jsonl", content)
    assert response.json() == {"imported": 2, "skipped_duplicates": 3, "candidates": 0}
    assert _count(session, Prompt, empty_set.id) == 3
    again = _upload(client, admin_token, empty_set.id, "p.jsonl", content)
    assert again.json() == {"imported": 0, "skipped_duplicates": 5, "candidates": 0}


def test_an_id_already_used_by_another_prompt_in_the_set_is_an_error(
    client: TestClient, session: Session, admin_token: str, empty_set: PromptSet
) -> None:
    make_prompt(session, empty_set, text="Stored", candidates=None, external_id="x1")
    session.commit()
    response = _upload(
        client, admin_token, empty_set.id, "p.jsonl", _jsonl({"id": "x1", "prompt": "Other"})
    )
    assert response.status_code == 422
    assert "already belongs to a different prompt" in response.json()["errors"][0]["message"]


def test_hundred_thousand_rows_import_with_bounded_memory(
    session: Session, tmp_path: Path, db_url: str
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("one backend is enough for the size test; the bench covers PostgreSQL")
    rows = 100_000
    path = tmp_path / "big.jsonl"
    with path.open("w") as f:
        for i in range(rows):
            f.write(
                json.dumps({"id": f"p{i}", "prompt": f"Question number {i} about a topic"}) + "\n"
            )
    prompt_set = make_prompt_set(session, prompts=0)
    tracemalloc.start()
    with path.open("rb") as f:
        result = import_prompts(session, prompt_set_id=prompt_set.id, file=f, filename=path.name)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.imported == rows
    assert _count(session, Prompt, prompt_set.id) == rows
    # The file is ~6 MB and parsed rows would take well over 100 MB: the peak stays with
    # the per-prompt hash/id sets plus one batch.
    assert peak < 40_000_000, f"peak {peak / 1e6:.1f} MB"
    # Speed is bench/import_prompts.py's job (docs/benchmarks.md), not a timed assertion.


def test_cli_import_with_progress_and_a_rejected_file(tmp_path: Path) -> None:
    from app.core.db import make_engine, make_sessionmaker
    from tests.support.server import ranklab_env, run_cli

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = ranklab_env(tmp_path / "data", url)
    assert run_cli(["db", "upgrade"], env).returncode == 0
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        make_prompt_set(s, name="cli set", prompts=0)
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.csv"
    good.write_bytes(_jsonl({"prompt": "a"}, {"prompt": "b"}, {"prompt": "a"}))
    bad.write_text('prompt,messages\nfine,\n,"[{""role"": ""assistant"", ""content"": ""x""}]"\n')
    done = run_cli(["import", str(good), "--prompt-set", "cli set"], env)
    assert done.returncode == 0, done.stderr
    assert "imported 2 prompts (0 candidates) into 'cli set'; skipped 1 duplicates" in done.stdout
    assert "writing" in done.stderr  # the tqdm bar
    rejected = run_cli(["import", str(bad), "--prompt-set", "cli set", "--quiet"], env)
    assert rejected.returncode == 2
    assert "line 3: messages[0].role bad role order" in rejected.stderr
    with make_sessionmaker(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Prompt)) == 2
    engine.dispose()
