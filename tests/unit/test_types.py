"""mypy on app/ with the settings in pyproject.toml ([tool.mypy]), as part of the suite."""

from __future__ import annotations

import os
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[2]


def test_app_type_checks() -> None:
    # mypy reads [tool.mypy] (files = ["app"]) from the working directory's pyproject.toml;
    # its cache under .mypy_cache keeps reruns to a few seconds.
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml")])
    finally:
        os.chdir(cwd)
    assert status == 0, stdout + stderr
