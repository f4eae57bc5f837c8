"""Annotators and researchers get 403 on every admin page and admin endpoint.

The routes come from the app itself: every path under /admin, plus every route whose
dependencies include the admin role check, so a new admin route is covered when added.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.main import create_app
from tests.factories.accounts import DEFAULT_PASSWORD, make_user
from tests.support.http import csrf_from, login

pytestmark = pytest.mark.one_backend  # 403s only


def _needs_admin(dependant) -> bool:  # type: ignore[no-untyped-def]
    call = dependant.call
    if call is not None and call.__qualname__.startswith("require_role"):
        cells = [c.cell_contents for c in call.__closure__ or ()]
        if {"admin"} in cells:
            return True
    return any(_needs_admin(d) for d in dependant.dependencies)


def _all_routes(routes: list) -> list[APIRoute]:
    """FastAPI keeps included routers as wrappers (original_router): walk into them."""
    out = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        out.extend(_all_routes(inner.routes) if inner is not None else [route])
    return out


def admin_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite://", secret_key="x" * 48))
    found = set()
    for route in _all_routes(app.routes):
        if not isinstance(route, APIRoute):
            continue
        if route.path.startswith("/admin") or _needs_admin(route.dependant):
            for method in route.methods - {"HEAD"}:
                found.add((method, route.path))
    return sorted(found)


ROUTES = admin_routes()


def test_the_route_table_covers_the_admin_surface() -> None:
    paths = {p for _, p in ROUTES}
    for expected in (
        "/admin",
        "/admin/users",
        "/api/v1/prompt-sets",
        "/api/v1/users",
        "/api/v1/prompt-sets/{prompt_set_id}/imports",
        "/api/v1/users/{user_id}/tokens",
    ):
        assert expected in paths
    assert len(ROUTES) >= 30


@pytest.mark.parametrize("role", ["annotator", "researcher"])
def test_non_admins_get_403_everywhere(client: TestClient, session: Session, role: str) -> None:
    user = make_user(session, role=role)
    login(client, user.username, DEFAULT_PASSWORD)
    csrf = csrf_from(client.get("/").text)  # their own home page
    refused = []
    for method, path in ROUTES:
        url = re.sub(r"\{[^}]+\}", "1", path)
        response = client.request(
            method, url, headers={"X-CSRF-Token": csrf}, follow_redirects=False
        )
        if response.status_code != 403 or "needs the admin role" not in response.text:
            refused.append((method, path, response.status_code))
    assert refused == []
