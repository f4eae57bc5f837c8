"""An admin finds a spammer by their signals: the people page's column, then their page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from app.core.db import make_engine
from tests.factories.signals import make_signal_crowd


def test_admin_sees_the_signals_on_the_people_page_and_the_annotator_page(
    page: Page, demo_server
) -> None:
    server, creds = demo_server
    engine = make_engine(
        server.env["RANKLAB_DATABASE_URL"]
        or f"sqlite:///{server.env['RANKLAB_DATA_DIR']}/ranklab.db"
    )
    try:
        with Session(engine, expire_on_commit=False) as session:
            crowd = make_signal_crowd(session, prompts=25, name="Signals <i>set</i>")
    finally:
        engine.dispose()
    spammer, honest = crowd.spammer, crowd.honest[0]

    page.goto(server.base_url + "/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(creds["admin"])
    page.get_by_role("button", name="Log in").click()
    page.goto(server.base_url + "/admin/users")

    flags = page.locator(f'[data-signals="{spammer.id}"] a')
    expect(flags).to_contain_text("Position bias")
    expect(flags).to_contain_text("Straight-lining")
    expect(flags).to_have_attribute(
        "title",
        re.compile(r"^Position bias: items 25, first shown ranked first 25, .*chance 0\.25"),
    )
    expect(page.locator(f'[data-signals="{honest.id}"]')).to_have_text("none")

    flags.click()
    expect(page).to_have_url(f"{server.base_url}/admin/users/{spammer.id}#signals")
    table = page.locator("[data-signals-table]")
    expect(table.locator("tbody tr")).to_have_count(6)
    bias = table.locator('[data-signal="position_bias"]')
    expect(bias.locator("[data-value]")).to_have_text("1")
    expect(bias.locator('[data-number="items"]')).to_have_text("25")
    expect(bias.locator('[data-number="first shown ranked first"]')).to_have_text("25")
    expect(bias.locator('[data-number="chance"]')).to_have_text("0.25")
    expect(bias.locator("[data-flagged]")).to_have_text("flagged")
    untouched = table.locator('[data-signal="untouched_order"]')
    expect(untouched.locator('[data-number="sent as shown"]')).to_have_text("25")
    runs = table.locator('[data-signal="straight_lining"]')
    expect(runs.locator('[data-number="longest run"]')).to_have_text("25")
    gold = table.locator('[data-signal="gold_agreement"]')
    expect(gold.locator("[data-flagged]")).to_have_text("too little data")
    expect(page.get_by_text("Numbers to look at, not a verdict")).to_be_visible()

    page.goto(f"{server.base_url}/admin/users/{honest.id}")
    honest_bias = page.locator('[data-signal="position_bias"]')
    expect(honest_bias.locator('[data-number="items"]')).to_have_text("25")
    expect(honest_bias.locator("[data-flagged]")).to_have_text("no")
    expect(page.locator('[data-signal="majority_agreement"] [data-value]')).to_have_text("1")
