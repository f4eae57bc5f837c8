"""The audit log (issue 23, item 2): one walk through the HTTP API and pages that leaves
a row for each audited action, with its actor, target and changes; a rolled-back action
leaves none; the table refuses UPDATE and DELETE on both databases; the API's cursor
pages, filters, JSONL export and 403; the page escapes untrusted text; request ids."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.accounts import service as accounts_service
from app.annotation import submission
from app.core import audit
from app.core.audit import AuditEvent, Target
from app.core.config import Settings
from app.core.db import make_engine
from app.main import create_app
from app.prompt_sets.models import Candidate, Prompt
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.annotation import lease, submission_for
from tests.factories.prompt_sets import make_prompt_set
from tests.factories.reward import make_ranked_set
from tests.support.http import csrf_from, login

JUDGE_SERVER = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "judge-m"}


def _rows(session: Session, after: int = 0) -> list[AuditEvent]:
    session.expire_all()
    query = select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id)
    return list(session.scalars(query))


def _last_id(session: Session) -> int:
    return session.scalar(select(func.max(AuditEvent.id))) or 0


# --- the walk: a real app on a database of its own (its commits are real) ------------


@pytest.fixture
def live(fresh_postgres_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Engine]]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=fresh_postgres_url,
        secret_key="x" * 48,
        run_worker_in_process=False,
    )
    engine = make_engine(fresh_postgres_url)
    app = create_app(settings, engine=engine)
    with TestClient(app, base_url="http://testserver") as client:
        yield client, engine
    engine.dispose()


def _contested(session: Session, prompt_set_id: int, users: list) -> int:
    """Three annotators rank the one prompt in alternating orders: contested at k_max."""
    prompt_id = 0
    for i, who in enumerate(users):
        task = lease(session, prompt_set_id, who)
        ids = sorted(c.id for c in task.candidates)
        ranking = [[cid] for cid in (reversed(ids) if i % 2 else ids)]
        data = submission_for(task, ranking=ranking)
        submission.submit_annotation(session, annotator=who, data=data)
        prompt_id = task.prompt_id
    return prompt_id


def test_each_audited_action_through_http_leaves_one_row(live) -> None:
    client, engine = live
    with Session(engine, expire_on_commit=False) as s:
        admin = make_user(s, role="admin", username="walk-admin")
        ranked = make_ranked_set(s, prompts=10, annotators=2)
        disputed = make_prompt_set(s, prompts=1, annotators_per_prompt=2, annotators_max=3)
        contested = _contested(s, disputed.id, [make_user(s) for _ in range(3)])
        start = _last_id(s)

    expected: list[tuple[str, str | None, str | None]] = []  # action, actor, target type

    def expect(action: str, target_type: str | None, actor: str | None = "walk-admin") -> None:
        expected.append((action, actor, target_type))

    # Logins: a wrong password (anonymous, the attempted name kept), then a good one.
    assert login(client, "walk-admin", "wrong-password").status_code == 401
    expect("user.login_failed", "login", actor="walk-admin")
    assert login(client, "walk-admin", DEFAULT_PASSWORD).status_code == 303
    expect("user.login_succeeded", "user")
    csrf = csrf_from(client.get("/admin").text)
    h = {"X-CSRF-Token": csrf, "X-Request-ID": "walk-1"}

    def ok(response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json() if "json" in response.headers.get("content-type", "") else None

    # People.
    person = ok(client.post("/api/v1/users", json={"username": "p1"}, headers=h), 201)
    expect("user.invited", "user")
    ok(
        client.post(
            "/api/v1/users", json={"username": "p2", "password": "long-enough-pw"}, headers=h
        ),
        201,
    )
    expect("user.created", "user")
    pid = person["id"]
    renewed = ok(client.post(f"/api/v1/users/{pid}/invite", headers=h))
    expect("user.invite_renewed", "user")
    invite = renewed["invite_url"].removeprefix("http://testserver")
    pw = {"csrf_token": csrf, "password": "p1-own-password", "password_again": "p1-own-password"}
    assert client.post(invite, data=pw, follow_redirects=False).status_code == 303
    expect("user.invite_accepted", "user", actor="p1")
    ok(
        client.post(
            f"/api/v1/users/{pid}/password", json={"password": "another-long-pw"}, headers=h
        )
    )
    expect("user.password_reset", "user")
    ok(client.post(f"/api/v1/users/{pid}/active", json={"is_active": False}, headers=h))
    expect("user.deactivated", "user")
    ok(client.post(f"/api/v1/users/{pid}/active", json={"is_active": True}, headers=h))
    expect("user.activated", "user")
    ok(client.post(f"/api/v1/users/{pid}/expert", json={"is_expert": True}, headers=h))
    expect("user.expert_changed", "user")
    token = ok(client.post(f"/api/v1/users/{pid}/tokens", json={"name": "t"}, headers=h), 201)
    expect("api_token.created", "api_token")
    ok(client.delete(f"/api/v1/users/{pid}/tokens/{token['id']}", headers=h))
    expect("api_token.revoked", "api_token")

    # A prompt set: created, edited, imported into, gold set and cleared, a prompt deleted.
    ps = ok(client.post("/api/v1/prompt-sets", json={"name": "audited"}, headers=h), 201)
    expect("prompt_set.created", "prompt_set")
    ok(
        client.patch(
            f"/api/v1/prompt-sets/{ps['id']}", json={"description": "new words"}, headers=h
        )
    )
    expect("prompt_set.edited", "prompt_set")
    lines = [{"prompt": "Q one", "candidates": ["a", "b"]}, {"prompt": "Q two"}]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    ok(
        client.post(
            f"/api/v1/prompt-sets/{ps['id']}/imports",
            files={"file": ("p.jsonl", body, "application/octet-stream")},
            headers=h,
        )
    )
    expect("prompt_set.imported", "prompt_set")
    with Session(engine) as s:
        ready = s.scalar(
            select(Prompt).where(Prompt.prompt_set_id == ps["id"], Prompt.text == "Q one")
        )
        assert ready is not None
        prompt_id = ready.id
        best = s.scalar(select(Candidate.id).where(Candidate.prompt_id == prompt_id).limit(1))
    ok(client.put(f"/api/v1/prompts/{prompt_id}/gold", json={"best_candidate_id": best}, headers=h))
    expect("prompt.gold_set", "prompt")
    ok(client.delete(f"/api/v1/prompts/{prompt_id}/gold", headers=h))
    expect("prompt.gold_cleared", "prompt")

    # Jobs: generation, judge (created, a new version, a run), reward model.
    job = ok(client.post(f"/api/v1/prompt-sets/{ps['id']}/generation-jobs", headers=h), 201)
    expect("generation_job.started", "generation_job")
    ok(client.post(f"/api/v1/generation-jobs/{job['id']}/cancel", headers=h))
    expect("generation_job.cancelled", "generation_job")
    judges = f"/api/v1/prompt-sets/{ranked.id}/judges"
    v1 = ok(client.post(judges, json={"name": "j", "settings": JUDGE_SERVER}, headers=h), 201)
    expect("judge.created", "judge")
    v2 = ok(client.patch(f"{judges}/{v1['id']}", json={"mode": "pairwise"}, headers=h), 201)
    expect("judge.version_activated", "judge")
    run = ok(client.post(f"{judges}/{v2['id']}/runs", headers=h), 202)
    expect("judge_run.started", "judge_run")
    ok(client.post(f"/api/v1/prompt-sets/{ranked.id}/judge-runs/{run['id']}/cancel", headers=h))
    expect("judge_run.cancelled", "judge_run")
    version = ok(
        client.post(
            f"/api/v1/prompt-sets/{ranked.id}/reward-models", json={"kind": "fast"}, headers=h
        ),
        202,
    )
    expect("reward_model.training_started", "reward_model")
    ok(client.post(f"/api/v1/reward-models/{version['id']}/cancel", headers=h))
    expect("reward_model.cancelled", "reward_model")

    # An adjudication (the page's form), an export (the row comes when the stream ends).
    page = f"/admin/prompt-sets/{disputed.id}/adjudication/{contested}"
    with Session(engine) as s:
        ids = sorted(s.scalars(select(Candidate.id).where(Candidate.prompt_id == contested)))
    form = {
        "csrf_token": csrf,
        "note": "settled",
        **{f"rank_{c}": str(i + 1) for i, c in enumerate(ids)},
    }
    assert client.post(page, data=form, follow_redirects=False).status_code == 303
    expect("adjudication.settled", "prompt")
    export = client.get(f"/api/v1/exports/pairs?prompt_set={ranked.id}&columns=core")
    assert export.status_code == 200
    exported_rows = len(export.text.splitlines())
    expect("export.downloaded", "prompt_set")

    # Deletion and archiving last (an archived set refuses changes).
    ok(client.delete(f"/api/v1/prompts/{prompt_id}", headers=h))
    expect("prompt.deleted", "prompt")
    status = {"csrf_token": csrf, "status": "archived"}
    assert (
        client.post(
            f"/admin/prompt-sets/{ps['id']}/status", data=status, follow_redirects=False
        ).status_code
        == 303
    )
    expect("prompt_set.archived", "prompt_set")

    with Session(engine) as s:
        rows = _rows(s, start)
    assert [(r.action, r.actor_name, r.target_type) for r in rows] == expected
    by_action = {r.action: r for r in rows}
    failed = by_action["user.login_failed"]
    assert failed.actor_id is None and failed.details == {"reason": "wrong_password"}
    others = {"user.login_failed", "user.invite_accepted"}
    assert all(r.actor_id == admin.id for r in rows if r.action not in others)
    assert by_action["user.invite_accepted"].actor_id == pid
    assert all(r.client_address == "testclient" for r in rows)
    assert by_action["user.deactivated"].changes == {
        "before": {"is_active": True},
        "after": {"is_active": False},
    }
    assert by_action["user.deactivated"].request_id == "walk-1"  # the caller's id, kept
    assert by_action["user.deactivated"].target_id == str(pid)
    assert by_action["prompt_set.edited"].changes == {
        "before": {"description": ""},
        "after": {"description": "new words"},
    }
    assert by_action["prompt_set.imported"].details["imported"] == 2  # type: ignore[index]
    assert by_action["prompt.gold_set"].changes["after"]["is_gold"] is True  # type: ignore[index]
    assert by_action["judge.version_activated"].changes == {
        "before": {"version": 1, "mode": "listwise"},
        "after": {"version": 2, "mode": "pairwise"},
    }
    assert by_action["prompt_set.archived"].changes == {
        "before": {"status": "active"},
        "after": {"status": "archived"},
    }
    exported = by_action["export.downloaded"].details
    assert exported is not None
    assert (exported["format"], exported["rows"], exported["completed"]) == (
        "pairs",
        exported_rows,
        True,
    )
    assert exported_rows > 0 and exported["options"]["columns"] == "core"
    assert by_action["adjudication.settled"].changes["after"]["note"] == "settled"  # type: ignore[index]

    # The API reads the same rows back, a page at a time; a filter narrows them.
    seen: list[int] = []
    cursor = start
    while cursor is not None:
        page_json = ok(client.get(f"/api/v1/audit?after={cursor}&limit=7"))
        seen += [e["id"] for e in page_json["events"]]
        cursor = page_json["next_cursor"]
    assert seen == [r.id for r in rows]
    users_only = ok(client.get(f"/api/v1/audit?after={start}&action=user.&actor=walk-admin"))
    assert {e["action"] for e in users_only["events"]} == {
        a for a, who, _ in expected if a.startswith("user.") and who == "walk-admin"
    }
    since = {"target_type": "api_token", "since": rows[0].at.isoformat()}
    jsonl = client.get("/api/v1/audit.jsonl", params=since)
    assert [json.loads(line)["action"] for line in jsonl.text.splitlines()] == [
        "api_token.created",
        "api_token.revoked",
    ]
    assert client.get(f"/api/v1/audit?format=jsonl&after={start}").text.count("\n") >= len(rows)


# --- both databases: the transaction, the triggers ----------------------------------


def test_a_rolled_back_action_writes_no_audit_row(session: Session) -> None:
    user = make_user(session)
    before = _last_id(session)
    # The deactivation records its row in the caller's transaction, then the caller fails.
    accounts_service.change_active(session, user_id=user.id, active=False)
    assert [r.action for r in _rows(session, before)] == ["user.deactivated"]
    session.rollback()
    assert _rows(session, before) == []
    session.refresh(user)
    assert user.is_active


def test_the_table_refuses_update_and_delete(session: Session) -> None:
    audit.record(session, None, "prompt.deleted", Target("prompt", 1), actor_name="dba-test")
    session.flush()
    row_id = _last_id(session)
    for statement in (
        update(AuditEvent).where(AuditEvent.id == row_id).values(action="user.created"),
        delete(AuditEvent).where(AuditEvent.id == row_id),
    ):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(statement)
    assert session.get(AuditEvent, row_id, populate_existing=True).action == "prompt.deleted"  # type: ignore[union-attr]


def test_an_unknown_action_name_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="user.logged_in"):
        audit.record(session, None, "user.logged_in")


def test_removing_a_user_keeps_their_audit_rows(session: Session) -> None:
    """No foreign key from the log: a user's row can go, their history stays."""
    user = make_user(session)
    before = _last_id(session)
    accounts_service.set_expert(session, user_id=user.id, expert=True)
    user_id = user.id
    session.expunge(user)
    session.execute(text("DELETE FROM user_account WHERE id = :id"), {"id": user_id})
    assert [r.target_id for r in _rows(session, before)] == [str(user_id)]


# --- who may read it, the page, the request id (PostgreSQL enough) -------------------


@pytest.mark.one_backend
def test_non_admins_get_403_and_the_page_escapes_untrusted_text(
    client: TestClient, session: Session
) -> None:
    researcher = {
        "Authorization": f"Bearer {make_token(session, make_user(session, role='researcher'))}"
    }
    for path in ("/api/v1/audit", "/api/v1/audit.jsonl", "/api/v1/audit?format=jsonl"):
        assert client.get(path, headers=researcher).status_code == 403
    make_user(session, role="annotator", username="ann-a")
    login(client, "ann-a", DEFAULT_PASSWORD)
    assert client.get("/admin/audit").status_code == 403

    evil = "<script>alert(1)</script>"
    audit.record(
        session,
        None,
        "prompt_set.created",
        Target("prompt_set", 1),
        audit.created({"name": evil}),
        actor_name=evil,
    )
    session.commit()
    make_user(session, role="admin", username="audit-admin")
    login(client, "audit-admin", DEFAULT_PASSWORD)
    assert 'href="/admin/audit"' in client.get("/admin").text
    page = client.get("/admin/audit", params={"action": "prompt_set."})
    assert page.status_code == 200
    assert evil not in page.text and "&lt;script&gt;" in page.text
    bad_time = client.get("/api/v1/audit", params={"since": "yesterday"})
    assert bad_time.status_code == 422 and "since" in bad_time.text


@pytest.mark.one_backend
def test_a_valid_incoming_request_id_is_kept_and_echoed_a_bad_one_replaced(
    client: TestClient,
) -> None:
    kept = client.get("/healthz", headers={"X-Request-ID": "proxy-abc.123"})
    assert kept.headers["x-request-id"] == "proxy-abc.123"
    replaced = client.get("/healthz", headers={"X-Request-ID": 'bad id"<x>' + "y" * 80})
    assert replaced.headers["x-request-id"] not in ("", "bad id")
    assert len(replaced.headers["x-request-id"]) == 12
