"""Qualification in a real browser: an annotator fails the round and reads why; the admin
lets them retry from the set's annotator page, and gold items come again."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.db import make_engine
from app.prompt_sets.models import Candidate, Prompt
from tests.support.annotation_seed import seed_prompt_set
from tests.support.server import LiveServer, ranklab_env, run_cli, start_server

REASON = "0 of 2 gold items agreed, 100% needed"


def _mark_gold(url: str, set_id: int) -> set[int]:
    """Every prompt but the last becomes gold, best = its first candidate; returns the bests."""
    engine = make_engine(url)
    best: set[int] = set()
    try:
        with Session(engine) as session:
            prompts = session.scalars(
                select(Prompt).where(Prompt.prompt_set_id == set_id).order_by(Prompt.id)
            ).all()
            for prompt in prompts[:-1]:
                ids = list(
                    session.scalars(
                        select(Candidate.id)
                        .where(Candidate.prompt_id == prompt.id)
                        .order_by(Candidate.position)
                    )
                )
                prompt.is_gold, prompt.gold_ranking = True, [[ids[0]], ids[1:]]
                best.add(ids[0])
            session.commit()
    finally:
        engine.dispose()
    return best


@pytest.fixture
def qualify_server(tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str], int, set[int]]]:
    data = tmp_path / "data"
    env = ranklab_env(data)
    demo = run_cli(["demo"], env)
    assert demo.returncode == 0, demo.stderr
    creds = dict(re.findall(r"^\s+(\w+)\s+password: (\S+)$", demo.stdout, flags=re.M))
    url = f"sqlite:///{data / 'ranklab.db'}"
    items = [(f"Question {i}?", [f"Answer {i}.{j}" for j in range(4)]) for i in range(4)]
    set_id = seed_prompt_set(
        url,
        name="Qualified set",
        items=items,
        qualification_items=2,
        qualification_min_agreement=1.0,
        confirm_untouched_order=False,
    )
    best = _mark_gold(url, set_id)
    server = start_server(env, tmp_path / "server.log")
    yield server, creds, set_id, best
    server.stop()


def _login(page: Page, server: LiveServer, username: str, password: str) -> None:
    page.context.clear_cookies()
    page.goto(server.base_url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _rank_best_last(page: Page, best: set[int]) -> None:
    """Type every other response's letter: the gold best is implicitly ranked last."""
    rows = page.locator(".rank-row").evaluate_all(
        "rows => rows.map(r => [r.dataset.label, Number(r.dataset.cid)])"
    )
    letters = [label.lower() for label, cid in rows if cid not in best]
    assert len(letters) == len(rows) - 1, "each qualification item is gold"
    page.keyboard.type("".join(letters))
    page.keyboard.press("Enter")


def test_an_annotator_fails_qualification_reads_why_and_the_admin_lifts_it(
    page: Page, qualify_server
) -> None:
    server, creds, set_id, best = qualify_server
    _login(page, server, "annotator", creds["annotator"])
    page.goto(f"{server.base_url}/annotate/{set_id}")
    for done in (1, 2):
        expect(page.locator(".rank-row").first).to_be_visible()
        _rank_best_last(page, best)
        if done == 1:
            expect(page.locator("[data-counter]")).to_contain_text("Done today: 1")
    held = page.locator("[data-held]")
    expect(held).to_contain_text("You did not pass the qualification round of 'Qualified set'")
    expect(held).to_contain_text(REASON)
    page.reload()  # the page itself says the same, and offers no item
    expect(page.locator("[data-held]")).to_contain_text(REASON)
    expect(page.locator(".rank-row")).to_have_count(0)

    _login(page, server, "admin", creds["admin"])
    page.goto(f"{server.base_url}/admin/prompt-sets/{set_id}/annotators")
    row = page.locator('[data-standing="annotator"]')
    expect(row).to_contain_text("failed")
    expect(row).to_contain_text(REASON)
    row.get_by_role("button", name="Let annotator retry").click()
    expect(page.get_by_text("annotator is qualifying again in 'Qualified set'")).to_be_visible()
    expect(page.locator('[data-standing="annotator"]')).to_contain_text(
        "retry of the qualification round allowed by admin"
    )

    _login(page, server, "annotator", creds["annotator"])
    page.goto(f"{server.base_url}/annotate/{set_id}")
    expect(page.locator(".rank-row").first).to_be_visible()  # the third gold item
