"""A person logs in and out in a real browser."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def test_admin_logs_in_with_demo_credentials_and_logs_out(page: Page, demo_server) -> None:
    server, creds = demo_server
    page.goto(server.base_url + "/")
    expect(page).to_have_url(server.base_url + "/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(creds["admin"])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(server.base_url + "/admin")
    expect(page.get_by_text("Welcome, admin.")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(server.base_url + "/login")


def test_wrong_password_shows_a_clear_message(page: Page, demo_server) -> None:
    server, _ = demo_server
    page.goto(server.base_url + "/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
