"""The default backend: a local causal LM through Hugging Face transformers.

Batched: every candidate of every prompt handed over goes through one refilling decode
loop (refill.py): rows leave the batch at a stop token (the tokenizer's EOS or an
end-of-turn id of the model's generation config) and waiting rows take their place.
Each row keeps its own seed and temperature (its own torch.Generator), so a row's tokens
depend only on its own seed, not on which other rows share the batch (up to float
rounding from padding).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.config import Settings
from app.generation.backends import CandidateSpec, GeneratedText, PromptRequest, PromptResult
from app.generation.config import JobSettings

if TYPE_CHECKING:
    from app.generation.backends.refill import RefillingDecoder, Row

_models: dict[tuple[str, str, str], tuple[Any, Any, Any, dict[str, Any]]] = {}
_models_lock = threading.Lock()


def loaded_model(
    model: str, cache_dir: Path, dtype: str = "float32"
) -> tuple[Any, Any, Any, dict[str, Any]]:
    """Load once per process and dtype (the web app's worker thread and tests share it)."""
    from app.generation.model_cache import load_model

    key = (model, str(cache_dir), dtype)
    with _models_lock:
        if key not in _models:
            lm, tokenizer, source, info = load_model(model, cache_dir)
            _models[key] = (_place(lm, dtype), tokenizer, source, info)
        return _models[key]


def unload_models() -> bool:
    """Drop every loaded model (an idle worker gives its memory back); True if any was."""
    with _models_lock:
        had = bool(_models)
        _models.clear()
    return had


def pick_dtype(setting: str) -> str:
    """auto: bfloat16 on a GPU or a CPU with native bf16 matmul (AVX512-BF16/AMX)."""
    if setting != "auto":
        return setting
    import torch

    if torch.cuda.is_available() or torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return "bfloat16"
    return "float32"


def _place(lm: Any, dtype: str) -> Any:
    import torch

    lm = lm.to(getattr(torch, dtype))
    return lm.to("cuda") if torch.cuda.is_available() else lm


def load_transformers_backend(gen: JobSettings, app_settings: Settings) -> TransformersBackend:
    if app_settings.generation_threads:
        import torch

        torch.set_num_threads(app_settings.generation_threads)
    dtype = pick_dtype(app_settings.generation_dtype)
    lm, tokenizer, source, _info = loaded_model(gen.model, app_settings.model_cache_dir, dtype)
    return TransformersBackend(lm, tokenizer, source.name, gen)


class TransformersBackend:
    def __init__(self, lm: Any, tokenizer: Any, model_name: str, gen: JobSettings) -> None:
        self.lm = lm
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.gen = gen
        self.should_stop: Callable[[], bool] | None = None
        self.batch_prompts = max(1, gen.batch_sequences // max(1, gen.candidates_per_prompt))
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.eos_ids = stop_token_ids(lm, tokenizer)
        self.decoder: RefillingDecoder | None = None  # the last call's (its widths: the bench)

    def render(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    def generate(self, requests: list[PromptRequest]) -> list[PromptResult]:
        """Every candidate of every request through one refilling decode loop."""
        from app.generation.backends.refill import RefillingDecoder, Row

        work = [(request, spec) for request in requests for spec in request.candidates]
        prompts = {r.key: self.prompt_tokens(r.messages) for r in requests}
        rows = [Row(prompts[request.key], spec.seed, spec.temperature) for request, spec in work]
        self.decoder = RefillingDecoder(
            self.lm,
            batch_size=self.gen.batch_sequences,
            max_new_tokens=self.gen.max_new_tokens,
            top_p=self.gen.top_p,
            eos_ids=self.eos_ids,
            pad_id=self.tokenizer.pad_token_id,
            should_stop=self.should_stop,
        )
        self.decoder.run(rows)
        results = {r.key: PromptResult(r.key) for r in requests}
        for (request, spec), row in zip(work, rows, strict=True):
            results[request.key].outputs.append(self._output(spec, row))
        return [results[r.key] for r in requests]

    def prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        return list(self.tokenizer(self.render(messages), add_special_tokens=False)["input_ids"])

    def _output(self, spec: CandidateSpec, row: Row) -> GeneratedText:
        stopped = bool(row.tokens) and row.tokens[-1] in self.eos_ids
        tokens = row.tokens[:-1] if stopped else row.tokens
        cut = not stopped and len(row.tokens) >= self.gen.max_new_tokens
        return GeneratedText(
            position=spec.position,
            seed=spec.seed,
            temperature=spec.temperature,
            text=self.tokenizer.decode(tokens, skip_special_tokens=True).strip(),
            prompt_tokens=len(row.prompt),
            completion_tokens=len(row.tokens),
            latency_ms=row.latency_ms,
            finish_reason="stop" if stopped else "length" if cut else None,
        )


def stop_token_ids(lm: Any, tokenizer: Any) -> set[int]:
    """The tokens a turn ends at: the tokenizer's EOS and every id the model's generation
    config names (Gemma and Llama 3 list their end-of-turn tokens there, beside EOS;
    issue 20, item 13)."""
    ids: set[int] = set()
    config = getattr(lm, "generation_config", None)
    for value in (tokenizer.eos_token_id, getattr(config, "eos_token_id", None)):
        if value is not None:
            ids.update(value if isinstance(value, list | tuple) else [value])
    return ids
