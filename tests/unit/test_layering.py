"""The layering in DESIGN.md, checked: import-linter runs the contracts in pyproject.toml.

The second test proves the contracts bite: a copy of app/ with one upward import added
must break them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on `project` (a folder holding app/ and pyproject.toml)."""
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(project / "pyproject.toml")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_layering_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # core is the bottom layer; an import of the exports (a higher layer) is what must fail.
    config = tmp_path / "app" / "core" / "config.py"
    config.write_text(config.read_text() + "\n\ndef _upward() -> None:\n    import app.exports\n")

    result = _lint_imports(tmp_path)

    assert result.returncode != 0
    assert "app.core is not allowed to import app.exports" in result.stdout
    assert "app.core.config -> app.exports" in result.stdout
