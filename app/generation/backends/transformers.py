"""The default backend: a local causal LM through Hugging Face transformers.

Batched: several prompts x several candidates go through one `generate` call with left
padding. Each row keeps its own seed and temperature: `PerRowSampler` (a logits processor)
draws the next token of row i from row i's own torch.Generator at row i's temperature and
top_p, and hands `generate` a one-hot score row, so the greedy step just takes it. A row's
tokens therefore depend only on its own seed, not on which other rows share the batch
(up to float rounding from padding).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.config import Settings
from app.generation.backends import GeneratedText, PromptRequest, PromptResult
from app.generation.config import JobSettings

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


class PerRowSampler:
    """Logits processor: sample each row with its own generator, temperature and top_p.

    Nucleus sampling runs over the TOP_K most likely tokens (a full-vocabulary sort per
    row and step would cost about as much as the model's forward pass on CPU); top_p then
    keeps the smallest prefix of those reaching top_p of the full distribution's mass.
    """

    TOP_K = 256

    def __init__(self, seeds: list[int], temperatures: list[float], top_p: float) -> None:
        import torch

        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperatures = torch.tensor(temperatures, dtype=torch.float32).unsqueeze(1)
        self.greedy = [t <= 0 for t in temperatures]
        self.top_p = top_p

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        scores = scores.float()
        temperatures = self.temperatures.to(scores.device).clamp(min=1e-5)
        probs = torch.softmax(scores / temperatures, dim=-1)
        top_probs, top_ids = probs.topk(min(self.TOP_K, probs.shape[-1]), dim=-1)
        # Keep tokens while the mass before them is below top_p (the first always stays).
        keep = (top_probs.cumsum(-1) - top_probs) < self.top_p
        top_probs = top_probs * keep
        chosen = torch.empty(scores.shape[0], dtype=torch.long)
        top_probs, top_ids = top_probs.cpu(), top_ids.cpu()
        for i, generator in enumerate(self.generators):
            if self.greedy[i]:
                chosen[i] = int(top_ids[i, 0])
            else:
                pick = torch.multinomial(top_probs[i], 1, generator=generator)
                chosen[i] = top_ids[i, pick]
        out = torch.full_like(scores, float("-inf"))
        chosen = chosen.to(scores.device)
        out[torch.arange(scores.shape[0], device=scores.device), chosen] = 0.0
        return out


class StopWhen:
    """Stopping criterion: end the whole batch early once `flag()` is true (job cancelled)."""

    def __init__(self, flag: Callable[[], bool] | None) -> None:
        self.flag = flag

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        stop = bool(self.flag and self.flag())
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


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
        tokenizer.padding_side = "left"

    def render(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    def generate(self, requests: list[PromptRequest]) -> list[PromptResult]:
        rows = [(r, spec) for r in requests for spec in r.candidates]
        results = {r.key: PromptResult(r.key) for r in requests}
        size = self.gen.batch_sequences
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            for (request, _spec), output in zip(chunk, self._generate_rows(chunk), strict=True):
                results[request.key].outputs.append(output)
        return [results[r.key] for r in requests]

    def _generate_rows(self, rows: list[tuple[PromptRequest, Any]]) -> list[GeneratedText]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        texts = [self.render(request.messages) for request, _ in rows]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        batch = batch.to(self.lm.device)
        specs = [spec for _, spec in rows]
        sampler = PerRowSampler(
            [s.seed for s in specs], [s.temperature for s in specs], self.gen.top_p
        )
        config = GenerationConfig(
            max_new_tokens=self.gen.max_new_tokens,
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        started = time.perf_counter()
        with torch.inference_mode():
            output = self.lm.generate(
                **batch,
                generation_config=config,
                logits_processor=LogitsProcessorList([sampler]),
                stopping_criteria=StoppingCriteriaList([StopWhen(self.should_stop)]),
            )
        latency_ms = (time.perf_counter() - started) * 1000
        prompt_len = batch["input_ids"].shape[1]
        prompt_tokens = batch["attention_mask"].sum(dim=1).tolist()
        output = output.cpu()
        results = []
        for i, spec in enumerate(specs):
            new = output[i, prompt_len:].tolist()
            count = self._completion_length(new)
            text = self.tokenizer.decode(new[:count], skip_special_tokens=True).strip()
            results.append(
                GeneratedText(
                    position=spec.position,
                    seed=spec.seed,
                    temperature=spec.temperature,
                    text=text,
                    prompt_tokens=int(prompt_tokens[i]),
                    completion_tokens=count,
                    latency_ms=latency_ms,
                )
            )
        return results

    def _completion_length(self, tokens: list[int]) -> int:
        """Tokens up to and including the first end-of-sequence (the rest is padding)."""
        eos = self.tokenizer.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        for n, token in enumerate(tokens):
            if token in eos_ids:
                return n + 1
        return len(tokens)
