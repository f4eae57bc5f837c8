"""A researcher builds an export on the research page, previews it and downloads it."""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from app.core.db import make_engine
from tests.factories.export_data import make_export_scenario


def test_researcher_previews_and_downloads_an_export(page: Page, demo_server, tmp_path) -> None:
    server, creds = demo_server
    engine = make_engine(
        server.env["RANKLAB_DATABASE_URL"]
        or f"sqlite:///{server.env['RANKLAB_DATA_DIR']}/ranklab.db"
    )
    try:
        with Session(engine, expire_on_commit=False) as session:
            scenario = make_export_scenario(session, name="Helpfulness <b>v1</b>")
    finally:
        engine.dispose()

    page.goto(server.base_url + "/login")
    page.get_by_label("Username").fill("researcher")
    page.get_by_label("Password").fill(creds["researcher"])
    page.get_by_role("button", name="Log in").click()
    page.goto(server.base_url + "/research")
    page.get_by_label("Prompt sets").select_option(label=f"{scenario.prompt_set.name} (active)")
    page.locator("select[name=columns]").select_option("core")
    page.get_by_role("button", name="Preview").click()

    expect(page.locator("[data-row-count]")).to_have_text("14")
    expect(page.locator("[data-stats]")).to_contain_text("Krippendorff")
    with page.expect_download() as info:
        page.locator("[data-download]").click()
    path = tmp_path / "download.jsonl"
    info.value.save_as(path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 14 and set(rows[0]) == {"prompt", "chosen", "rejected"}
