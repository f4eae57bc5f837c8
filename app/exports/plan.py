"""ExportPlan: an export's validated options plus what its stream must not look up again.

Its own module because both the stream (service.py) and the dataset card (card.py) take one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.analytics.reliability import AnnotatorReliability
from app.exports.schemas import ExportOptions
from app.exports.writers import EXTENSIONS
from app.generation.model_files import BUNDLED_MODEL_ALIAS


@dataclass
class ExportPlan:
    """Validated options plus what the stream needs and must not look up again."""

    options: ExportOptions
    prompt_sets: list[dict[str, Any]]
    secret_key: str
    # What to load for options.tokenizer (a name): never shown, may be a server path.
    tokenizer_setting: str = BUNDLED_MODEL_ALIAS
    # A reliability-weighted consensus's annotator reliabilities, fitted on first use and
    # kept here: once per export, though a bundle reads its rows twice (train, test) and
    # its dataset card lists them.
    reliability: dict[int, AnnotatorReliability] | None = None

    @property
    def filename(self) -> str:
        names = "-".join(_slug(s["name"]) for s in self.prompt_sets)[:80]
        o = self.options
        if o.bundle:
            return f"ranklab-{o.format}-{names}.zip"
        suffix = "" if o.split == "all" else f"-{o.split}"
        return f"ranklab-{o.format}-{names}{suffix}.{EXTENSIONS[o.file_type]}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "set"
