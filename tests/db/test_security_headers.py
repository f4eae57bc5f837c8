"""Every response carries the security headers; error paths answer clearly (405 Allow,
413 for chunked bodies, a 500 page with a request id that never crashes itself)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import SessionDep, get_session
from app.core.security_headers import CONTENT_SECURITY_POLICY
from app.main import create_app
from app.prompt_sets.models import Prompt
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.prompt_sets import make_prompt_set
from tests.support.http import login

pytestmark = pytest.mark.one_backend  # response headers and error pages

ALWAYS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def _app_client(settings: Settings, engine: Engine, session: Session, **changes) -> TestClient:
    app = create_app(settings.model_copy(update=changes), engine=engine)
    app.dependency_overrides[get_session] = lambda: session

    @app.get("/boom-after-rollback")
    def boom(request: Request, db: SessionDep) -> None:
        # What the error page met in the wild: the request's ORM objects expired by a
        # rollback and detached, then an unexpected error.
        request.state.user.username  # noqa: B018  (loaded before the rollback)
        db.rollback()
        db.expunge_all()
        raise RuntimeError("simulated bug")

    @app.post("/clear-gold-of-a-prompt-deleted-meanwhile/{prompt_id}")
    def race(prompt_id: int, db: SessionDep) -> None:
        # What the fuzzer met: DELETE /prompts/1 committed between another request's read
        # and its write of the same prompt.
        prompt = db.get(Prompt, prompt_id)
        # The other request's delete, behind the ORM's back (as another session's is).
        stmt = delete(Prompt).where(Prompt.id == prompt_id)
        db.execute(stmt.execution_options(synchronize_session=False))
        prompt.is_gold = not prompt.is_gold
        db.commit()

    return TestClient(app, base_url="http://testserver", raise_server_exceptions=False)


@pytest.fixture
def hardened(settings: Settings, engine: Engine, session: Session) -> Iterator[TestClient]:
    with _app_client(settings, engine, session, max_body_bytes=2048) as client:
        yield client


def _assert_headers(response, *, cacheable: bool = False) -> None:
    for name, value in ALWAYS.items():
        assert response.headers.get(name) == value, (response.url, name)
    assert "camera=()" in response.headers["permissions-policy"]
    assert len(response.headers["x-request-id"]) == 12
    assert (response.headers.get("cache-control") == "no-store") is not cacheable
    assert "strict-transport-security" not in response.headers


def test_pages_api_errors_and_static_files_carry_the_headers(
    hardened: TestClient, session: Session
) -> None:
    user = make_user(session, role="admin")
    bearer = {"Authorization": f"Bearer {make_token(session, user)}"}
    _assert_headers(hardened.get("/login"))
    _assert_headers(hardened.get("/api/v1/me", headers=bearer))
    _assert_headers(hardened.get("/api/v1/me"))  # 401
    _assert_headers(hardened.get("/api/v1/prompt-sets/999999", headers=bearer))  # 404
    _assert_headers(hardened.get("/static/css/app.css"), cacheable=True)
    login(hardened, user.username, DEFAULT_PASSWORD)
    _assert_headers(hardened.get("/admin"))


def test_hsts_is_sent_only_when_cookies_are_secure(
    settings: Settings, engine: Engine, session: Session
) -> None:
    with _app_client(settings, engine, session, secure_cookies=True) as client:
        response = client.get("/login")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_an_undeclared_method_answers_405_with_allow(hardened: TestClient) -> None:
    response = hardened.delete("/api/v1/me")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert "DELETE is not allowed here; use GET" in response.json()["error"]


def test_a_chunked_body_over_the_limit_answers_413(hardened: TestClient, session: Session) -> None:
    bearer = {"Authorization": f"Bearer {make_token(session, make_user(session, role='admin'))}"}

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(10):
            yield b"x" * 1024
        yield b'"}'

    response = hardened.post("/api/v1/prompt-sets", content=chunks(), headers=bearer)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert "larger than the limit of 2048 bytes" in response.json()["error"]


def test_the_error_page_survives_a_rolled_back_session_and_shows_a_request_id(
    hardened: TestClient, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    user = make_user(session, role="admin")
    login(hardened, user.username, DEFAULT_PASSWORD)
    response = hardened.get("/boom-after-rollback", headers={"Accept": "text/html"})
    assert response.status_code == 500
    # The outermost handler answers outside the SecurityHeaders middleware: same headers.
    _assert_headers(response)
    request_id = response.headers["x-request-id"]
    assert f"request id {request_id}" in response.text
    assert user.username in response.text  # the top bar still knows who is signed in
    assert "simulated bug" not in response.text  # no internals shown
    assert any(request_id in r.getMessage() for r in caplog.records)
    as_json = hardened.get("/boom-after-rollback", headers={"Accept": "application/json"})
    assert as_json.status_code == 500 and as_json.json()["ok"] is False
    _assert_headers(as_json)


def test_docs_load_swagger_ui_from_our_own_origin(hardened: TestClient) -> None:
    page = hardened.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "<script>" not in page.text
    assert hardened.get("/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert hardened.get("/static/js/docs/swagger-init.js").status_code == 200
    assert hardened.get("/openapi.json").status_code == 200


def test_docs_can_be_turned_off(settings: Settings, engine: Engine, session: Session) -> None:
    with _app_client(settings, engine, session, docs_enabled=False) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/openapi.json").status_code == 404


def test_a_row_deleted_meanwhile_is_a_409_not_a_500(hardened: TestClient, session: Session) -> None:
    ps = make_prompt_set(session, prompts=1)
    prompt_id = session.scalar(select(Prompt.id).where(Prompt.prompt_set_id == ps.id))
    response = hardened.post(
        f"/clear-gold-of-a-prompt-deleted-meanwhile/{prompt_id}",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 409, response.text
    assert "changed or deleted by someone else meanwhile" in response.json()["error"]
