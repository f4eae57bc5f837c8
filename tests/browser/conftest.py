"""Playwright drives Debian's Chromium (never a downloaded browser) against a real server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import LiveServer, ranklab_env, run_cli, start_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make install does)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """A running server on a throwaway SQLite file, seeded with the demo accounts."""
    env = ranklab_env(tmp_path / "data")
    demo = run_cli(["demo"], env)
    assert demo.returncode == 0, demo.stderr
    creds = dict(re.findall(r"^\s+(\w+)\s+password: (\S+)$", demo.stdout, flags=re.M))
    server = start_server(env, tmp_path / "server.log")
    yield server, creds
    server.stop()


@pytest.fixture(autouse=True)
def _no_csp_violations(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every browser journey also proves the pages work under the strict CSP: Chromium
    reports each blocked script, style or frame on the console, and any report fails."""
    if "page" not in request.fixturenames:
        yield
        return
    page = request.getfixturevalue("page")
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield
    assert violations == []
