"""Requests build no pydantic fields (issue 22): FastAPI's route parameters are built once
by create_app, so no request runs FastAPI's thread-unsafe catch_warnings (app.main)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi._compat import v2
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app


def test_requests_build_no_parameter_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path}/ranklab.db",
        secret_key="x" * 48,
        run_worker_in_process=False,
    )
    app = create_app(settings)
    built: list[object] = []
    original = v2.ModelField.__post_init__

    def counting(field: v2.ModelField) -> None:
        built.append(field)
        original(field)

    monkeypatch.setattr(v2.ModelField, "__post_init__", counting)
    with TestClient(app) as client:
        # Routes of several routers, with query and path parameters, and no route at all.
        for path in ("/healthz", "/login", "/api/v1/tasks/next?prompt_set=1", "/nowhere"):
            assert client.get(path).status_code in (200, 401, 404)
        assert client.get("/api/v1/prompt-sets/1/dashboard").status_code == 401
    assert built == []
