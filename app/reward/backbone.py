"""The frozen backbone: which model, its identity, and batched embeddings.

It is loaded the way generation loads its model (app.generation.backends.transformers,
which converts a GGUF once into the data folder and keeps one copy per process), so a
worker that generates and trains reward models holds the weights once. A (prompt,
candidate) pair is read as the chat the annotator judged: the prompt's messages plus the
candidate as the assistant turn, through the tokenizer's chat template.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.core.config import Settings
from app.core.errors import AppError
from app.generation.model_cache import file_sha256
from app.generation.model_files import ModelSource, resolve_model
from app.reward.errors import InvalidRewardOptions

# How an input longer than max_length is cut (part of the embedding cache key): keep its
# end, so the candidate (the assistant turn, last) stays whole and the prompt loses its
# start. Keeping the start gave every candidate of a long prompt the same input and
# the same score (issue 20).
TRUNCATION = "keep-end"


def keep_end(ids: list[int], max_length: int) -> list[int]:
    """The last max_length token ids: a long prompt loses its start, the candidate after
    it stays whole (only a candidate longer than max_length by itself is cut)."""
    return ids[-max_length:] if len(ids) > max_length else ids


def validate_backbone(backbone: str) -> ModelSource:
    """A backbone the generation settings accept and that exists here; 422 naming it."""
    if backbone.startswith(("http://", "https://")):
        _bad(backbone, "an OpenAI-compatible server returns no hidden states; use a local model")
    try:
        source = resolve_model(backbone)
    except AppError as exc:
        _bad(backbone, exc.message)
    if not source.gguf_file and not Path(source.path).is_dir() and not _hub_cached(source.path):
        _bad(backbone, "not a local folder, a .gguf file or a Hub id in the local cache")
    return source


def _bad(backbone: str, why: str) -> None:
    raise InvalidRewardOptions(
        f"backbone: unknown backbone {backbone!r}: {why}.",
        errors=[{"field": "backbone", "message": f"unknown backbone {backbone!r}: {why}"}],
    )


def _hub_cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


@functools.lru_cache(maxsize=16)
def _file_key(path: str, mtime: float) -> str:
    return file_sha256(Path(path))[:16]


def backbone_key(backbone: str) -> str:
    """The backbone's identity for the embedding cache: its name plus a hash of its
    weights file (GGUF) or its folder, so changed weights never reuse old embeddings."""
    source = resolve_model(backbone)
    if source.gguf_file:
        path = Path(source.path) / source.gguf_file
        return f"{source.name}-{_file_key(str(path), path.stat().st_mtime)}"
    folder = Path(source.path)
    if folder.is_dir():
        stamp = max((f.stat().st_mtime for f in folder.iterdir()), default=0.0)
        digest = hashlib.sha256(f"{folder.resolve()}:{stamp}".encode()).hexdigest()[:16]
        return f"{source.name}-{digest}"
    return source.name


def load_backbone(backbone: str, app_settings: Settings) -> tuple[Any, Any]:
    """(causal LM, tokenizer), shared with the generation backend of this process."""
    from app.generation.backends.transformers import loaded_model, pick_dtype

    if app_settings.generation_threads:
        import torch

        torch.set_num_threads(app_settings.generation_threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    dtype = pick_dtype(app_settings.generation_dtype)
    lm, tokenizer, _source, _info = loaded_model(backbone, app_settings.model_cache_dir, dtype)
    return lm, tokenizer


def chat_text(tokenizer: Any, messages: list[dict[str, str]], answer: str) -> str:
    """The exact text the backbone reads for one candidate."""
    chat = [*messages, {"role": "assistant", "content": answer}]
    return tokenizer.apply_chat_template(chat, tokenize=False)


def input_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def embed_texts(
    lm: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    pooling: str,
    max_length: int,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """float32 embeddings (len(texts), hidden) of the last layer, last-token or mean pooled.

    An input longer than max_length keeps its end (`keep_end`). Texts go through in
    length order so a batch pads little; `on_batch(done)` after each batch (progress,
    cancellation).
    """
    import torch

    base = getattr(lm, lm.base_model_prefix, lm)  # the transformer without the LM head
    device = next(lm.parameters()).device
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    kept = [keep_end(list(ids), max_length) for ids in encoded]
    order = sorted(range(len(kept)), key=lambda i: len(kept[i]))
    out = np.zeros((len(texts), lm.config.hidden_size), dtype=np.float32)
    done = 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        enc = tokenizer.pad({"input_ids": [kept[i] for i in idx]}, return_tensors="pt")
        enc = {k: v.to(device) for k, v in enc.items()}
        with torch.inference_mode():
            hidden = base(**enc).last_hidden_state.float()
        mask = enc["attention_mask"].unsqueeze(-1).float()
        if pooling == "mean":
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        else:
            # The last real token, whichever side the tokenizer pads on.
            positions = torch.arange(mask.shape[1], device=device).unsqueeze(0)
            last = (positions * enc["attention_mask"]).argmax(dim=1)
            pooled = hidden[torch.arange(hidden.shape[0], device=device), last]
        out[idx] = pooled.cpu().numpy()
        done += len(idx)
        if on_batch is not None:
            on_batch(done)
    return out
