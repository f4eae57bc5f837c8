"""An admin sets up a project in a real browser: a set, an import, an annotator, the dashboard.

Starting generation and watching its progress bar is the generation domain's page
(/admin/prompt-sets/{id}/generation) and is tested once that lands.
"""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Page, expect


def _log_in(page: Page, base_url: str, password: str) -> None:
    page.goto(base_url + "/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base_url + "/admin")


def test_admin_creates_a_set_imports_prompts_adds_an_annotator_and_sees_the_dashboard(
    page: Page, demo_server, tmp_path: Path
) -> None:
    server, creds = demo_server
    base = server.base_url
    _log_in(page, base, creds["admin"])

    page.get_by_role("link", name="New prompt set").click()
    page.get_by_label("Name").fill("Browser set")
    page.get_by_label("Guidelines (Markdown)").fill("Prefer **short** answers.")
    page.get_by_role("button", name="Preview guidelines").click()
    expect(page.get_by_label("Guidelines preview").locator("strong")).to_have_text("short")
    page.get_by_label("Annotators per prompt (k)").fill("2")
    page.get_by_role("button", name="Create prompt set").click()
    expect(page.get_by_text("Created prompt set 'Browser set'")).to_be_visible()

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "fine"}\n{"prompt": ""}\n')
    page.get_by_label("JSONL or CSV file").set_input_files(str(bad))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("alert").first).to_contain_text("nothing was imported")
    expect(page.locator(".import-errors td").first).to_have_text("2")

    good = tmp_path / "good.jsonl"
    rows = [{"prompt": f"Question {i}?"} for i in range(3)]
    rows.append({"prompt": "Pre-made", "candidates": [{"text": "A", "model": "x"}, "B"]})
    good.write_text("".join(json.dumps(r) + "\n" for r in rows))
    page.get_by_label("JSONL or CSV file").set_input_files(str(good))
    page.get_by_role("button", name="Import").click()
    expect(
        page.get_by_text("Imported 4 prompts (2 candidates); skipped 0 duplicates.")
    ).to_be_visible()
    dashboard_url = page.url
    expect(page.locator('[data-stat="prompts"]')).to_have_text("4")
    expect(page.locator('[data-stat="annotations"]')).to_have_text("0 / 8")

    page.goto(base + "/admin/users")
    page.get_by_label("Username").fill("ann1")
    page.get_by_label("Password").fill("a-long-password")
    page.get_by_role("button", name="Add person").click()
    expect(page.get_by_text("Created annotator 'ann1'.")).to_be_visible()

    page.goto(dashboard_url)
    expect(page.get_by_role("heading", name="Browser set")).to_be_visible()
    expect(page.get_by_role("img", name="Annotations per hour")).to_be_visible()
    expect(page.get_by_role("progressbar", name="prompts with candidates")).to_have_attribute(
        "aria-valuenow", "1"
    )
