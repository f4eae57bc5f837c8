"""An annotator ranks answers in a real browser: mouse, keyboard, buttons, ties, flags."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.annotation.models import Annotation
from app.core.db import make_engine
from tests.support.annotation_seed import seed_prompt_set
from tests.support.server import LiveServer, ranklab_env, run_cli, start_server

XSS = '<img src=x onerror="window.__xss = 1"> and <script>window.__xss = 2</script>'


@pytest.fixture
def annotate_server(tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str], str, int]]:
    data = tmp_path / "data"
    env = ranklab_env(data)
    demo = run_cli(["demo"], env)
    assert demo.returncode == 0, demo.stderr
    creds = dict(re.findall(r"^\s+(\w+)\s+password: (\S+)$", demo.stdout, flags=re.M))
    url = f"sqlite:///{data / 'ranklab.db'}"
    items = [
        (f"Question {i}: **why** is the sky blue?", [f"Answer {i}.{j}" for j in range(4)])
        for i in range(3)
    ]
    items[0] = ("Trick question", [XSS, "Plain *answer*", "Third answer", "Fourth answer"])
    set_id = seed_prompt_set(url, items=items, guidelines="Prefer **correct** answers.")
    server = start_server(env, tmp_path / "server.log")
    yield server, creds, url, set_id
    server.stop()


def _login(page: Page, server: LiveServer, password: str) -> None:
    page.goto(server.base_url + "/login")
    page.get_by_label("Username").fill("annotator")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _order(page: Page) -> list[str]:
    return page.locator(".rank-row").evaluate_all("rows => rows.map(r => r.dataset.label)")


def _annotations(url: str) -> list[Annotation]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(Annotation).order_by(Annotation.id)))
    finally:
        engine.dispose()


def _ids_by_label(page: Page) -> dict[str, int]:
    pairs = page.locator(".rank-row").evaluate_all(
        "rows => rows.map(r => [r.dataset.label, Number(r.dataset.cid)])"
    )
    return dict(pairs)


def test_rank_by_mouse_buttons_and_keys_with_a_tie_and_a_flag(page: Page, annotate_server) -> None:
    server, creds, url, set_id = annotate_server
    page.set_viewport_size({"width": 1280, "height": 800})
    _login(page, server, creds["annotator"])
    page.goto(server.base_url + "/annotate")
    page.get_by_role("link", name="Browser set").first.click()
    expect(page.get_by_role("heading", name="Response A")).to_be_visible()
    expect(page.locator("[data-counter]")).to_contain_text("Done today: 0")
    # Untrusted answer: shown as text, runs nothing, no model names anywhere.
    expect(page.locator(".cand-body").filter(has_text="onerror")).to_have_count(1)
    assert page.evaluate("window.__xss") is None
    assert "model-0" not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    ids = _ids_by_label(page)
    page.evaluate("window.__samePage = true")

    # Drag C above A, then the buttons move B up once; keys put D first and tie A with it.
    page.locator('.rank-row[data-label="C"]').drag_to(
        page.locator('.rank-row[data-label="A"]'), target_position={"x": 10, "y": 2}
    )
    assert _order(page) == ["C", "A", "B", "D"]
    page.get_by_role("button", name="Move response B up").click()
    assert _order(page) == ["C", "B", "A", "D"]
    page.locator('.rank-row[data-label="D"]').focus()
    page.keyboard.press("1")
    assert _order(page) == ["D", "C", "B", "A"]
    page.keyboard.press("ArrowDown")  # focus moves to C
    page.keyboard.press("t")  # C tied with D
    expect(page.locator('.rank-row[data-label="C"] [data-rank-no]')).to_have_text("1=")
    page.locator(f"#cand-{ids['B']}").get_by_label("Factually wrong").check()
    page.locator('.rank-row[data-label="C"]').focus()
    page.keyboard.press("Enter")

    expect(page.locator("[data-counter]")).to_contain_text("Done today: 1")
    expect(page.get_by_role("heading", name="Response A")).to_be_visible()
    assert page.evaluate("window.__samePage") is True  # no full reload
    saved = _annotations(url)
    assert len(saved) == 1
    assert saved[0].ranking == [sorted([ids["D"], ids["C"]]), [ids["B"]], [ids["A"]]]
    assert saved[0].flags == {str(ids["B"]): ["factually_wrong"]}
    assert saved[0].seconds_spent > 0

    page.get_by_text("Skip this item").click()
    page.get_by_label("Reason").fill("The prompt is unclear")
    page.get_by_role("button", name="Skip", exact=True).click()
    expect(page.locator("[data-counter]")).to_contain_text("Remaining: 1")
    assert page.evaluate("window.__samePage") is True


def test_keyboard_only_ranking_and_nothing_left_at_phone_width(page: Page, annotate_server) -> None:
    server, creds, url, set_id = annotate_server
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, server, creds["annotator"])
    for done in range(3):
        page.goto(server.base_url + f"/annotate/{set_id}") if done == 0 else None
        expect(page.locator(".rank-row").first).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        ids = _ids_by_label(page)
        page.locator(".rank-row").first.focus()  # A has focus
        page.keyboard.press("Shift+ArrowDown")  # A moves below B
        page.keyboard.press("ArrowDown")  # focus C
        page.keyboard.press("4")  # C to last place
        page.keyboard.press("Enter")
        expect(page.locator("[data-counter]")).to_contain_text(f"Done today: {done + 1}")
        assert _annotations(url)[-1].ranking == [[ids[x]] for x in "BADC"]
    expect(page.get_by_text("Nothing left to annotate in this set.")).to_be_visible()
