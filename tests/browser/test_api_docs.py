"""/docs shows Swagger UI from our own origin and works under the strict CSP."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def test_swagger_ui_loads_locally_under_the_csp(page: Page, demo_server) -> None:
    server, _ = demo_server
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(server.base_url) else None,
    )
    page.goto(server.base_url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Ranklab")
    expect(page.locator(".opblock").first).to_be_visible()
    assert [u for u in outside if not u.startswith("data:")] == []
