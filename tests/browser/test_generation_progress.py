"""An admin starts generation in the browser and watches the bar fill without reloading.

The server's in-process worker generates through the openai backend against a local
chat server that answers slowly, so the progress is visible while it happens.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.core.db import make_engine, make_sessionmaker
from app.prompt_sets.models import Candidate
from tests.factories.accounts import DEFAULT_PASSWORD, make_user
from tests.factories.generation import make_generation_set
from tests.support.openai_server import ChatServer
from tests.support.server import ranklab_env, run_cli, start_server


def test_admin_starts_generation_and_watches_live_progress(page: Page, tmp_path: Path) -> None:
    chat = ChatServer(default=("sleep", 0.3)).start()
    env = ranklab_env(
        tmp_path / "data",
        RANKLAB_RUN_WORKER_IN_PROCESS="true",
        RANKLAB_OPENAI_BASE_URL=chat.base_url,
        RANKLAB_OPENAI_MODEL="tiny-chat",
        RANKLAB_OPENAI_CONCURRENCY="1",
    )
    assert run_cli(["db", "upgrade"], env).returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'ranklab.db'}")
    with make_sessionmaker(engine)() as session:
        ps = make_generation_set(
            session, prompts=6, candidates=2, generation={"backend": "openai", "max_new_tokens": 8}
        )
        admin = make_user(session, role="admin")
    server = start_server(env, tmp_path / "server.log")
    try:
        page.goto(server.base_url + "/login")
        page.get_by_label("Username").fill(admin.username)
        page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{server.base_url}/admin/prompt-sets/{ps.id}/generation")
        expect(page.get_by_text("No generation job has run")).to_be_visible()

        page.get_by_role("button", name="Start generation").click()
        bar = page.locator("[data-generation-job]")
        expect(bar).to_be_visible()
        page.evaluate("window.__noReload = true")  # survives only if the page never reloads
        expect(bar.locator('[data-field="status"]')).to_have_text("done", timeout=30_000)
        expect(bar.locator('[data-field="done"]')).to_have_text("6")
        expect(page.locator("[data-cancel-form]")).to_be_hidden()
        assert page.evaluate("window.__noReload") is True
        assert bar.get_by_role("progressbar").get_attribute("aria-valuenow") == "6"
        with make_sessionmaker(engine)() as session:
            assert session.scalar(select(func.count()).select_from(Candidate)) == 12
    finally:
        server.stop()
        chat.stop()
        engine.dispose()
