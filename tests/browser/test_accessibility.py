"""axe-core in the real browser on every page (issue 11): no serious or critical violation.

axe-playwright-python injects the axe-core build it ships with; the rule sets are WCAG 2
A/AA plus axe's best practices. Moderate and minor findings are printed (pytest -s shows
them) and the ones issue 11 named stay fixed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.support.annotation_seed import seed_prompt_set
from tests.support.server import LiveServer, ranklab_env, run_cli, start_server

RULE_SETS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "best-practice"]}}
FAILING_IMPACTS = {"serious", "critical"}
# Found on main when issue 11 was filed; each stays fixed whatever its impact.
NAMED_IN_ISSUE = {"scrollable-region-focusable", "landmark-unique", "empty-table-header"}


@pytest.fixture
def a11y_server(tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str], int]]:
    data = tmp_path / "data"
    env = ranklab_env(data)
    demo = run_cli(["demo"], env)
    assert demo.returncode == 0, demo.stderr
    creds = dict(re.findall(r"^\s+(\w+)\s+password: (\S+)$", demo.stdout, flags=re.M))
    long = "\n\n".join(f"Paragraph {i}. " + "Words. " * 40 for i in range(30))
    items = [("Which answer is **better**?", [long, "Short *B*", "Third", "Fourth"])]
    set_id = seed_prompt_set(f"sqlite:///{data / 'ranklab.db'}", items=items)
    server = start_server(env, tmp_path / "server.log")
    yield server, creds, set_id
    server.stop()


def _problems(page: Page, axe: Axe, where: str) -> list[str]:
    results = axe.run(page, options=RULE_SETS)
    problems = []
    for v in results.response["violations"]:
        nodes = [n["target"] for n in v["nodes"]][:3]
        line = f"{where}: {v['id']} ({v['impact']}) {v['help']} at {nodes}"
        print(line)
        if v["impact"] in FAILING_IMPACTS or v["id"] in NAMED_IN_ISSUE:
            problems.append(line)
    return problems


def test_every_page_has_no_serious_or_critical_axe_violation(page: Page, a11y_server) -> None:
    server, creds, set_id = a11y_server
    base = server.base_url
    axe = Axe()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(base + "/login")
    problems = _problems(page, axe, "login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(creds["admin"])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base + "/admin")
    pages = {
        "admin dashboard": "/admin",
        "prompt set dashboard": f"/admin/prompt-sets/{set_id}",
        "prompts": f"/admin/prompt-sets/{set_id}/prompts",
        "annotators": f"/admin/prompt-sets/{set_id}/annotators",
        "people": "/admin/users",
        "webhooks": "/admin/webhooks",
        "person": "/admin/users/1",
        "audit log": "/admin/audit",
        "generation": f"/admin/prompt-sets/{set_id}/generation",
        "new prompt set": "/admin/prompt-sets/new",
        "research": "/research",
        "annotate home": "/annotate",
        "annotate item": f"/annotate/{set_id}",
    }
    for where, path in pages.items():
        response = page.goto(base + path)
        assert response is not None and response.ok, (where, response and response.status)
        if where == "annotate item":
            expect(page.locator(".rank-form.js")).to_be_visible()  # the script has run
            page.keyboard.press("?")  # the key list and the confirm are part of it too
            expect(page.locator("[data-keys]")).to_be_visible()
            page.keyboard.press("Enter")
            expect(page.get_by_role("alertdialog")).to_be_visible()
        problems += _problems(page, axe, where)
    assert not problems, "\n".join(problems)
