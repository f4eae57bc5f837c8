"""The arena in a browser: an admin creates a set with two generators and a pipeline,
generates, an annotator ranks (never seeing who made what), the admin opens the
leaderboard. Generation goes through the in-process worker and a local chat server."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.core.db import make_engine, make_sessionmaker
from app.prompt_sets.models import Candidate, PromptSet
from tests.factories.accounts import DEFAULT_PASSWORD, make_user
from tests.factories.generation import QUESTIONS
from tests.factories.prompt_sets import make_prompt
from tests.support.openai_server import ChatServer
from tests.support.server import ranklab_env, run_cli, start_server

GENERATORS = [
    {"name": "cool", "settings": {"backend": "openai", "temperature": 0.2}},
    {"name": "warm", "settings": {"backend": "openai", "temperature": 1.2}},
    {
        "name": "team",
        "pipeline": {"recipe": "draft_critique_revise", "drafter": "cool", "critic": "warm"},
    },
]


def _login(page: Page, base_url: str, username: str) -> None:
    page.goto(base_url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_two_generators_and_a_pipeline_from_form_to_leaderboard(page: Page, tmp_path: Path) -> None:
    chat = ChatServer().start()
    env = ranklab_env(
        tmp_path / "data",
        RANKLAB_RUN_WORKER_IN_PROCESS="true",
        RANKLAB_OPENAI_BASE_URL=chat.base_url,
        RANKLAB_OPENAI_MODEL="tiny-chat",
    )
    assert run_cli(["db", "upgrade"], env).returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'ranklab.db'}")
    with make_sessionmaker(engine)() as session:
        admin = make_user(session, role="admin")
        annotator = make_user(session)
        session.commit()
    server = start_server(env, tmp_path / "server.log")
    try:
        _login(page, server.base_url, admin.username)
        page.goto(server.base_url + "/admin/prompt-sets/new")
        page.locator('[name="name"]').fill("Arena")
        page.locator('[name="candidates_per_prompt"]').fill("3")
        page.locator('[name="annotators_per_prompt"]').fill("1")
        page.locator('[name="backend"]').select_option("openai")
        page.locator('[name="max_new_tokens"]').fill("8")
        page.locator('[name="generators_json"]').fill(json.dumps(GENERATORS))
        page.get_by_role("button", name="Create prompt set").click()
        expect(page.get_by_text("Created prompt set")).to_be_visible()
        with make_sessionmaker(engine)() as session:
            ps = session.scalar(select(PromptSet).where(PromptSet.name == "Arena"))
            for question in QUESTIONS[:3]:
                make_prompt(session, ps, text=question, candidates=None)
            session.commit()
            set_id = ps.id

        page.goto(f"{server.base_url}/admin/prompt-sets/{set_id}/generation")
        page.get_by_role("button", name="Start generation").click()
        bar = page.locator("[data-generation-job]")
        expect(bar.locator('[data-field="status"]')).to_have_text("done", timeout=30_000)
        with make_sessionmaker(engine)() as session:
            made = session.scalars(select(Candidate.generator)).all()
            assert sorted(made) == ["cool"] * 3 + ["team"] * 3 + ["warm"] * 3

        ranker = page.context.browser.new_context().new_page()
        _login(ranker, server.base_url, annotator.username)
        ranker.goto(f"{server.base_url}/annotate/{set_id}")
        for done in range(3):
            expect(ranker.locator(".rank-row")).to_have_count(3)
            content = ranker.content()
            for secret in ("cool", "warm", "team", "draft_critique_revise", "critique"):
                assert secret not in content, secret
            for key in ("b", "a", "c", "Enter"):  # typed order B > A > C, then submit
                ranker.keyboard.press(key)
            expect(ranker.locator("[data-counter]")).to_contain_text(f"Done today: {done + 1}")

        page.goto(f"{server.base_url}/admin/prompt-sets/{set_id}")
        page.get_by_role("link", name="Leaderboard").click()
        expect(page.get_by_role("heading", name="Arena: leaderboard")).to_be_visible()
        expect(page.locator("svg.chart")).to_have_count(3)
        standings = page.get_by_role("region", name="Standings")
        for name in ("cool", "warm", "team"):
            expect(standings.get_by_role("cell", name=name, exact=True)).to_be_visible()
        expect(page.get_by_text("9 comparisons")).to_be_visible()
        with make_sessionmaker(engine)() as session:
            assert session.scalar(select(func.count()).select_from(Candidate)) == 9
    finally:
        server.stop()
        chat.stop()
        engine.dispose()
