"""Generation benchmark: batched vs one-sequence-at-a-time tokens/s, cold vs cached load.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python bench/generation.py [--threads N] [--tokens 64]

Uses the default model (the bundled SmolLM2 GGUF) and the same 8 prompts x 4 candidates
(32 sequences, the same seeds) for both paths; cold load converts the GGUF into an empty
cache folder, cached load reads that folder back.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from app.demo_prompts import DEMO_PROMPTS  # noqa: E402
from app.generation.backends import CandidateSpec, PromptRequest  # noqa: E402
from app.generation.backends.transformers import (  # noqa: E402
    TransformersBackend,
    _place,
    pick_dtype,
)
from app.generation.config import JobSettings  # noqa: E402
from app.generation.model_cache import load_model  # noqa: E402
from app.prompt_sets.content import as_messages  # noqa: E402


def requests(gen: JobSettings, prompts: int) -> list[PromptRequest]:
    out = []
    for i, row in enumerate(DEMO_PROMPTS[:prompts]):
        messages = as_messages(row.get("text"), row.get("messages"), "Answer concisely.")
        specs = [
            CandidateSpec(p, gen.seed_for(i, p), gen.temperature_for(p))
            for p in range(gen.candidates_per_prompt)
        ]
        out.append(PromptRequest(i, messages, specs))
    return out


def throughput(
    lm, tokenizer, gen: JobSettings, reqs: list[PromptRequest]
) -> tuple[float, int, float]:
    backend = TransformersBackend(lm, tokenizer, "bench", gen)
    started = time.perf_counter()
    results = backend.generate(reqs)
    seconds = time.perf_counter() - started
    tokens = sum(r.completion_tokens for r in results)
    return tokens / seconds, tokens, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--tokens", type=int, default=64, help="max_new_tokens")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--candidates", type=int, default=4)
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = pick_dtype(args.dtype)
    print(f"torch threads: {torch.get_num_threads()}, cpu count: {os.cpu_count()}, {dtype}")

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        _lm, _tok, _src, cold = load_model("smollm2", cache)
        lm, tokenizer, _src, cached = load_model("smollm2", cache)
    lm = _place(lm, dtype)
    print(f"cold load (GGUF de-quantise + save): {cold['seconds']:.2f} s")
    print(
        f"cached load (safetensors):            {cached['seconds']:.2f} s"
        f"  ratio {cached['seconds'] / cold['seconds']:.3f}"
    )

    base = {
        "max_new_tokens": args.tokens,
        "candidates_per_prompt": args.candidates,
        "temperature": 0.8,
    }
    batched = JobSettings(**base, batch_sequences=args.prompts * args.candidates)
    single = JobSettings(**base, batch_sequences=1)
    reqs = requests(batched, args.prompts)
    throughput(lm, tokenizer, single, reqs[:1])  # warm-up
    b_rate, b_tokens, b_secs = throughput(lm, tokenizer, batched, reqs)
    s_rate, s_tokens, s_secs = throughput(lm, tokenizer, single, reqs)
    n = args.prompts * args.candidates
    print(f"batched ({n} sequences per pass): {b_rate:8.1f} tokens/s", end=" ")
    print(f"({b_tokens} tokens, {b_secs:.1f} s)")
    print(f"one sequence at a time:          {s_rate:8.1f} tokens/s", end=" ")
    print(f"({s_tokens} tokens, {s_secs:.1f} s)")
    print(f"speed-up: {b_rate / s_rate:.1f}x")


if __name__ == "__main__":
    main()
