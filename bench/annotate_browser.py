"""Benchmark: in a real browser, submit -> next item painted, over many items (issue 11).

    PYTHONPATH=$PWD python bench/annotate_browser.py [--items 50] [--legacy]

Creates a throwaway PostgreSQL database (RANKLAB_BENCH_POSTGRES_URL, default postgres on
127.0.0.1), seeds a set of ready prompts with 4 candidates (about 300 words each, k=1),
starts `ranklab serve` and drives Debian's Chromium with Playwright: for each item it types
`c a d` and Enter. The time is taken in the page, from the Enter keydown to the first
animation frame after the next item was swapped in (the frame in which it is painted).
`--legacy`: the page before issue 11 had no typed order; focus the first row and press
Enter instead (run this file from a checkout of the old code to compare).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from annotate import fresh_database, seed  # noqa: E402

from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from tests.support.server import ranklab_env, start_server  # noqa: E402

PASSWORD = "bench-password-123"

# Installed once; the item box survives every swap, so the observer sees each new item.
INSTRUMENT = """() => {
  window.__times = [];
  window.__t0 = null;
  document.addEventListener("keydown", e => {
    if (e.key === "Enter") window.__t0 = performance.now();
  }, true);
  new MutationObserver(() => {
    const t0 = window.__t0;
    if (t0 === null) return;
    window.__t0 = null;
    requestAnimationFrame(() => window.__times.push(performance.now() - t0));
  }).observe(document.querySelector("[data-item]"), { childList: true });
}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--legacy", action="store_true", help="the page before issue 11")
    parser.add_argument("--database", default="ranklab_bench_annotate_browser")
    args = parser.parse_args()
    admin = os.environ.get(
        "RANKLAB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    url = fresh_database(admin, args.database)
    set_id, _ = seed(url, args.items + 5, 1)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        server = start_server(ranklab_env(Path(tmp) / "data", url), Path(tmp) / "server.log")
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(server.base_url + "/login")
            page.get_by_label("Username").fill("bench0")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_load_state()
            page.goto(f"{server.base_url}/annotate/{set_id}")
            page.wait_for_selector(".rank-row")
            page.evaluate(INSTRUMENT)
            started = time.perf_counter()
            for i in range(args.items):
                if args.legacy:
                    page.locator(".rank-row").first.focus()
                else:
                    for key in "cad":
                        page.keyboard.press(key)
                page.keyboard.press("Enter")
                page.wait_for_function(f"window.__times.length > {i}")
            elapsed = time.perf_counter() - started
            times = page.evaluate("window.__times")
        finally:
            browser.close()
            server.stop()
    q = statistics.quantiles(times, n=100, method="inclusive")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{len(times)} items{' (legacy page)' if args.legacy else ''}: submit -> next painted "
        f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, max {max(times):.1f} ms; "
        f"{len(times) / elapsed:.1f} items/s including the typing; load average {load}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
