"""The hook that deletes judge rankings with the candidates they rank (issue 20, item 12)
is registered next to the judge tables, below which candidates are deleted: every entry
point that can replace candidates (the web app, the `ranklab` commands and their worker)
must have imported it. Checked in fresh interpreters, since this one has imported every
table already."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.unit.test_layering import ROOT

LIST_HOOKS = (
    "from app.prompt_sets import dependents; "
    "print(sorted(f'{f.__module__}.{f.__name__}' for f in dependents._dependents))"
)


@pytest.mark.parametrize(
    "entry_point",
    ["import app.main", "from app.cli import build_parser; build_parser()"],
)
def test_every_entry_point_drops_judge_rankings_with_replaced_candidates(entry_point) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"{entry_point}; {LIST_HOOKS}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "app.judges.models.drop_rankings_of_replaced_candidates" in done.stdout
