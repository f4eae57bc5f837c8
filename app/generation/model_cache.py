"""Load a causal LM, converting a GGUF file only once.

`from_pretrained(..., gguf_file=...)` de-quantises every tensor on each start (about 30 s
on 2 cores). The converted weights are saved with `save_pretrained` into
`<data_dir>/models/<name>-<sha256 of the file>`, so a later start loads safetensors in a
few seconds. The key is the file's content hash: a changed file gets a fresh conversion.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from app.generation.errors import BackendUnavailable
from app.generation.model_files import ModelSource, resolve_model

log = logging.getLogger("ranklab.generation")
HASH_CHUNK = 4 * 1024 * 1024


def file_sha256(path: Path) -> str:
    """Content hash of the model file (about 0.3 s for the bundled 100 MB file)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cache_folder(source: ModelSource, cache_dir: Path) -> Path | None:
    """Where the converted copy of a GGUF source lives; None for non-GGUF sources."""
    if not source.gguf_file:
        return None
    gguf = Path(source.path) / source.gguf_file
    return cache_dir / f"{gguf.stem}-{file_sha256(gguf)[:16]}"


def load_model(model: str, cache_dir: Path) -> tuple[Any, Any, ModelSource, dict[str, Any]]:
    """(model, tokenizer, source, info) with info = {"cached": bool, "seconds": float}."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve_model(model)
    started = time.perf_counter()
    folder = cache_folder(source, cache_dir)
    cached = folder is not None and (folder / "ranklab-cache.json").exists()
    try:
        if cached:
            assert folder is not None
            tokenizer = AutoTokenizer.from_pretrained(str(folder))
            lm = AutoModelForCausalLM.from_pretrained(str(folder))
        else:
            kwargs = source.pretrained_kwargs()
            tokenizer = AutoTokenizer.from_pretrained(source.path, **kwargs)
            lm = AutoModelForCausalLM.from_pretrained(source.path, **kwargs)
            if folder is not None:
                _save(lm, tokenizer, source, folder)
    except OSError as exc:
        raise BackendUnavailable(
            f"Could not load model {model!r} without downloading: {exc}"
        ) from exc
    lm.eval()
    seconds = time.perf_counter() - started
    log.info("loaded %s in %.1fs (%s)", source.name, seconds, "cached" if cached else "cold")
    return lm, tokenizer, source, {"cached": cached, "seconds": seconds}


def _save(lm: Any, tokenizer: Any, source: ModelSource, folder: Path) -> None:
    """Write to a temporary folder and rename, so a crash never leaves a half cache."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    # The weights are already de-quantised to float32; dropping the GGUF quantizer marker
    # lets save_pretrained write them as plain safetensors.
    lm.hf_quantizer = None
    if hasattr(lm.config, "quantization_config"):
        del lm.config.quantization_config
    lm.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    (tmp / "ranklab-cache.json").write_text(
        json.dumps({"source": str(Path(source.path) / (source.gguf_file or ""))})
    )
    try:
        tmp.rename(folder)
    except OSError:  # another process finished first: theirs is as good as ours
        shutil.rmtree(tmp, ignore_errors=True)
