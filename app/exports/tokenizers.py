"""Which tokenizers an export may use: chosen by name from a list the server already knows.

The `tokenizer` option used to take any server path, so a researcher could probe the file
system ("does not exist" vs a 500) and make the web process load arbitrary folders. Now it
names one of:
- the bundled model (`smollm2`) and the server's default generation model;
- the generation model of each exported prompt set (an admin chose it);
- a folder or `.gguf` file an operator put in `<data_dir>/tokenizers/`, by its file name.
Anything else is a 422 listing the names, whatever exists on disk. Loading a tokenizer is
cached per process (`prompt_renderer` and `load_tokenizer` are lru-cached); a load that
failed is remembered too, so a broken entry is not retried on every request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from app.core.errors import InvalidInput
from app.exports.chat import ChatTemplateMissing, Messages, prompt_renderer
from app.generation.model_files import BUNDLED_MODEL_ALIAS

log = logging.getLogger("ranklab.exports")
MAX_LISTED = 20
_failed: dict[str, str] = {}


class UnknownTokenizer(InvalidInput):
    code = "unknown_tokenizer"


def allowed_tokenizers(
    *, set_models: Iterable[str], default_model: str, tokenizer_dir: Path | None
) -> dict[str, str]:
    """Name -> model setting to load, for every tokenizer this export may use."""
    allowed = {BUNDLED_MODEL_ALIAS: BUNDLED_MODEL_ALIAS, default_model: default_model}
    allowed |= {model: model for model in set_models if model}
    if tokenizer_dir is not None and tokenizer_dir.is_dir():
        for entry in sorted(tokenizer_dir.iterdir()):
            if entry.is_dir() or entry.suffix == ".gguf":
                allowed.setdefault(entry.name, str(entry))
    return allowed


def choose_tokenizer(requested: str, default: str, allowed: dict[str, str]) -> str:
    """The requested name (or the default) if allowed; 422 naming the choices otherwise."""
    name = requested or default
    if name in allowed:
        return name
    names = sorted(allowed)
    listed = ", ".join(names[:MAX_LISTED]) + (" …" if len(names) > MAX_LISTED else "")
    raise UnknownTokenizer(
        f"Unknown tokenizer {name[:100]!r}: choose one of {listed}.",
        errors=[{"field": "tokenizer", "message": "not one of the server's tokenizers"}],
    )


def renderer(name: str, setting: str) -> Callable[[Messages], str]:
    """The chat-template renderer for an allowed tokenizer; 422 (without server paths or
    library internals) when it can't be loaded."""
    if setting in _failed:
        raise InvalidInput(_failed[setting], errors=[{"field": "tokenizer", "message": "unusable"}])
    try:
        return prompt_renderer(setting)
    except ChatTemplateMissing:
        message = f"The tokenizer {name!r} has no chat template; choose another one."
    except Exception:  # any loader failure: log the details, tell the user only the name
        log.exception("tokenizer %r (%s) failed to load", name, setting)
        message = f"The tokenizer {name!r} could not be loaded on the server; choose another."
    _failed[setting] = message
    raise InvalidInput(message, errors=[{"field": "tokenizer", "message": "unusable"}])
