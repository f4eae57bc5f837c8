"""An admin opens a prompt set's adjudication queue, settles a contested prompt with the
rank form, and sees it leave the queue; the set's settings page shows k_max."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.core.db import make_engine, make_sessionmaker
from app.prompt_sets.models import Candidate, Prompt
from tests.factories.accounts import DEFAULT_PASSWORD, make_user
from tests.factories.annotation import make_annotation
from tests.factories.prompt_sets import make_prompt_set
from tests.support.server import ranklab_env, run_cli, start_server


def test_admin_adjudicates_a_contested_prompt_and_it_leaves_the_queue(
    page: Page, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = ranklab_env(data_dir)
    assert run_cli(["db", "upgrade"], env).returncode == 0
    engine = make_engine(f"sqlite:///{data_dir / 'ranklab.db'}")
    with make_sessionmaker(engine)() as session:
        ps = make_prompt_set(
            session, prompts=2, annotators_per_prompt=2, annotators_max=3, name="Contested"
        )
        annotators = [make_user(session) for _ in range(3)]
        for prompt in session.scalars(select(Prompt).where(Prompt.prompt_set_id == ps.id)).all():
            ids = sorted(
                session.scalars(select(Candidate.id).where(Candidate.prompt_id == prompt.id))
            )
            for i, who in enumerate(annotators):  # by id, reversed, by id: contested
                make_annotation(
                    session, prompt, who, [[c] for c in (ids if i % 2 == 0 else ids[::-1])]
                )
            prompt.extra_seats = 1  # escalated once, to k_max
        session.commit()
        admin = make_user(session, role="admin")
    server = start_server(env, tmp_path / "server.log")
    try:
        page.goto(server.base_url + "/login")
        page.get_by_label("Username").fill(admin.username)
        page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{server.base_url}/admin/prompt-sets/{ps.id}")
        page.get_by_role("link", name="Adjudication (2)").click()
        expect(page.get_by_role("heading", name="Adjudication queue")).to_be_visible()
        rows = page.locator("[data-adjudication-queue] tbody tr")
        expect(rows).to_have_count(2)
        first = rows.first.get_attribute("data-prompt-id")

        rows.first.get_by_role("link", name="Adjudicate").click()
        expect(page.locator("[data-annotator-rankings] li")).to_have_count(3)
        expect(page.locator("[data-annotator-rankings]")).to_contain_text(
            "annotator 1: A > B > C > D"
        )
        for label, rank in zip("ABCD", ("2", "1", "3", "3"), strict=True):
            page.get_by_label(f"Rank of {label}").fill(rank)
        page.get_by_label("Note (optional)").fill("B answers the question")
        page.get_by_role("button", name="Settle this prompt").click()

        expect(page.get_by_text(f"Prompt {first} adjudicated")).to_be_visible()
        expect(rows).to_have_count(1)
        expect(page.locator(f'[data-prompt-id="{first}"]')).to_have_count(0)

        page.goto(f"{server.base_url}/admin/prompt-sets/{ps.id}/edit")
        expect(page.get_by_label("At most annotators per prompt")).to_have_value("3")
    finally:
        server.stop()
        engine.dispose()
