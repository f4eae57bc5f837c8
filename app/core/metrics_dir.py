"""prometheus-client's multi-process folder (issue 23), apart from app.core.metrics: the
library picks its storage when it is first imported, and creates a file there for each
counter as soon as the counter is defined, so the folder must exist and be emptied before
app.core.metrics (which defines them) is imported. This module imports nothing of it."""

from __future__ import annotations

import os
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess_dir(path: Path) -> Path:
    """Create the folder and delete what an earlier run left: files of dead processes
    would otherwise add their old counts to every scrape."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return path
