"""Render a prompt as the text a reward model sees before the answer.

TRL's RewardTrainer concatenates `prompt + chosen`, so the prompt of a `pairs` row must end
with the chat template's assistant header. For a GGUF model (the bundled SmolLM2 default) we
read the chat template and special tokens straight from the file's header and render it the
way transformers does, without importing transformers/torch into the web server (that alone
costs ~300 MB of memory). Any other model goes through `load_tokenizer(...).apply_chat_template`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from app.core.errors import InvalidInput
from app.generation.model_files import load_tokenizer, resolve_model

Messages = list[dict[str, str]]
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q"}
_SCALARS |= {11: "<q", 12: "<d"}
_WANTED = ("tokenizer.chat_template", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id")


class ChatTemplateMissing(InvalidInput):
    code = "chat_template_missing"


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    return struct.unpack(fmt, f.read(size))[0]


def _read_str(f: BinaryIO) -> str:
    return f.read(_read(f, "<Q")).decode("utf-8", errors="replace")


def _read_value(f: BinaryIO, vtype: int, keep: bool) -> Any:
    if vtype in _SCALARS:
        return _read(f, _SCALARS[vtype])
    if vtype == 8:
        return _read_str(f)
    if vtype == 9:
        item_type, count = _read(f, "<I"), _read(f, "<Q")
        if item_type in _SCALARS and not keep:
            f.seek(struct.calcsize(_SCALARS[item_type]) * count, 1)
            return None
        items = [_read_value(f, item_type, keep) for _ in range(count)]
        return items if keep else None
    raise ValueError(f"unknown GGUF value type {vtype}")


def gguf_chat_metadata(path: Path) -> dict[str, Any]:
    """The chat template and bos/eos token strings from a GGUF file's key-value header."""
    found: dict[str, Any] = {}
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ChatTemplateMissing(f"{path.name} is not a GGUF file.")
        _read(f, "<I")  # version
        _read(f, "<Q")  # tensor count
        for _ in range(_read(f, "<Q")):
            key = _read_str(f)
            vtype = _read(f, "<I")
            keep = key in _WANTED or key == "tokenizer.ggml.tokens"
            value = _read_value(f, vtype, keep)
            if keep:
                found[key] = value
    tokens = found.get("tokenizer.ggml.tokens") or []

    def token(key: str) -> str:
        idx = found.get(key)
        return tokens[idx] if isinstance(idx, int) and idx < len(tokens) else ""

    return {
        "chat_template": found.get("tokenizer.chat_template"),
        "bos_token": token("tokenizer.ggml.bos_token_id"),
        "eos_token": token("tokenizer.ggml.eos_token_id"),
    }


def _jinja_renderer(template: str, bos_token: str, eos_token: str) -> Callable[[Messages], str]:
    # Same environment as transformers' chat_template_utils: sandboxed, trim/lstrip blocks.
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, **kw: Any) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, **kw)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    compiled = env.from_string(template)

    def render(messages: Messages) -> str:
        return compiled.render(
            messages=messages,
            add_generation_prompt=True,
            bos_token=bos_token,
            eos_token=eos_token,
        )

    return render


@lru_cache(maxsize=8)
def prompt_renderer(model: str) -> Callable[[Messages], str]:
    """A function messages -> prompt text ending with the assistant header, for `model`."""
    source = resolve_model(model)
    if source.gguf_file:
        meta = gguf_chat_metadata(Path(source.path) / source.gguf_file)
        if not meta["chat_template"]:
            raise ChatTemplateMissing(f"The model {model!r} has no chat template.")
        return _jinja_renderer(meta["chat_template"], meta["bos_token"], meta["eos_token"])
    tokenizer = load_tokenizer(model)
    if not getattr(tokenizer, "chat_template", None):
        raise ChatTemplateMissing(f"The tokenizer of {model!r} has no chat template.")

    def render(messages: Messages) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    return render
