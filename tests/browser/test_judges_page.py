"""An admin attaches a judge to a prompt set, edits it into version 2, starts a run and
watches it finish live (the server's in-process worker asks a real OpenAI-compatible test
server), then reads the failure with the judge's raw text, escaped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from app.core.db import make_engine, make_sessionmaker
from tests.factories.accounts import DEFAULT_PASSWORD, make_user
from tests.factories.prompt_sets import make_prompt_set
from tests.support.openai_server import ChatServer
from tests.support.server import ranklab_env, run_cli, start_server


def _judge(body: dict[str, Any]) -> str:
    message = body["messages"][-1]["content"]
    if ".1: explain" in message:
        return "<img src=x onerror=alert(1)> I cannot decide"
    labels = re.findall(r"^\[([A-H])\]$", message, flags=re.M)
    return " > ".join(labels)


def test_admin_creates_edits_and_runs_a_judge(page: Page, tmp_path: Path) -> None:
    chat = ChatServer(reply=_judge).start()
    data_dir = tmp_path / "data"
    env = ranklab_env(
        data_dir,
        RANKLAB_RUN_WORKER_IN_PROCESS="true",
        RANKLAB_OPENAI_BASE_URL=chat.base_url,
        RANKLAB_OPENAI_MODEL="tiny-judge",
    )
    assert run_cli(["db", "upgrade"], env).returncode == 0
    engine = make_engine(f"sqlite:///{data_dir / 'ranklab.db'}")
    with make_sessionmaker(engine)() as session:
        ps = make_prompt_set(session, prompts=3, candidates=3, name="Helpful answers")
        admin = make_user(session, role="admin")
    server = start_server(env, tmp_path / "server.log")
    try:
        page.goto(server.base_url + "/login")
        page.get_by_label("Username").fill(admin.username)
        page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{server.base_url}/admin/prompt-sets/{ps.id}")
        page.get_by_role("link", name="Judges").click()
        expect(page.get_by_role("heading", name="Judges: Helpful answers")).to_be_visible()

        page.locator('input[name="name"]').fill("helpful")
        page.locator('textarea[name="settings"]').fill('{"backend": "openai", "temperature": 5}')
        page.get_by_role("button", name="Create judge").click()
        expect(page.locator("[data-errors]")).to_contain_text("settings.temperature")
        page.locator('textarea[name="settings"]').fill('{"backend": "openai"}')
        page.get_by_role("button", name="Create judge").click()
        expect(page.get_by_role("heading", name="Judge helpful")).to_be_visible()
        expect(page.locator("[data-version]")).to_have_text("version 1")

        page.locator('select[name="mode"]').select_option("listwise")
        rubric = page.locator('textarea[name="rubric"]')
        rubric.fill("Prefer the most helpful answer.\n{prompt}\n{candidates}")
        page.get_by_role("button", name="Save as a new version").click()
        expect(page.get_by_text("Saved as version 2 of 'helpful'.")).to_be_visible()
        expect(page.locator("[data-version]")).to_have_text("version 2")
        expect(page.get_by_role("link", name="version 1")).to_be_visible()

        page.get_by_role("button", name="Rank the prompts it has not ranked").click()
        expect(page.get_by_text("queued for 3 prompts")).to_be_visible()
        run = page.locator("[data-judge-run]")
        # progress.js polls the run's API until the in-process worker is done.
        expect(run.locator('[data-field="status"]')).to_have_text("done", timeout=60_000)
        expect(run.locator('[data-field="done"]')).to_have_text("2")
        expect(run.locator('[data-field="failed"]')).to_have_text("1")

        page.reload()
        failure = page.locator("[data-failures] tbody tr")
        expect(failure).to_have_count(1)
        expect(failure).to_contain_text("<img src=x onerror=alert(1)> I cannot decide")
        expect(failure).to_contain_text("unparseable: no line of the answer is an order")
        assert page.locator("[data-failures] img").count() == 0
        assert {r["model"] for r in chat.requests} == {"tiny-judge"}
        assert "Prefer the most helpful answer." in chat.requests[0]["messages"][-1]["content"]
    finally:
        server.stop()
        chat.stop()
        engine.dispose()
