"""The local backend stops at every end-of-turn id the model's generation config names
(issue 20, item 13), not only at the tokenizer's EOS: Gemma and Llama 3 list theirs in
`generation_config.eos_token_id`. Checked with a tiny random Llama built in-process
around the bundled SmolLM2 tokenizer, so nothing is downloaded."""

from __future__ import annotations

from typing import Any

import pytest

from app.generation.backends import CandidateSpec, GeneratedText, PromptRequest
from app.generation.backends.refill import RefillingDecoder, Row
from app.generation.backends.transformers import TransformersBackend
from app.generation.config import JobSettings
from app.generation.model_files import load_tokenizer

pytestmark = pytest.mark.model  # loads the bundled GGUF's tokenizer (about 10 s)
MAX_NEW_TOKENS = 16
MESSAGES = [{"role": "user", "content": "Say hi."}]


@pytest.fixture(scope="module")
def tiny_lm() -> tuple[Any, Any]:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = load_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config).eval(), tokenizer


def _generate(lm: Any, tokenizer: Any) -> GeneratedText:
    gen = JobSettings(model="tiny", max_new_tokens=MAX_NEW_TOKENS, temperature=0.0)
    backend = TransformersBackend(lm, tokenizer, "tiny", gen)
    [result] = backend.generate([PromptRequest(1, MESSAGES, [CandidateSpec(0, 1, 0.0)])])
    return result.outputs[0]


def _greedy_tokens(lm: Any, tokenizer: Any) -> list[int]:
    """The tokens the model decodes when only the tokenizer's EOS stops it."""
    gen = JobSettings(model="tiny", temperature=0.0)
    prompt = TransformersBackend(lm, tokenizer, "tiny", gen).prompt_tokens(MESSAGES)
    [row] = RefillingDecoder(
        lm,
        batch_size=1,
        max_new_tokens=MAX_NEW_TOKENS,
        top_p=1.0,
        eos_ids={tokenizer.eos_token_id},
        pad_id=tokenizer.eos_token_id,
    ).run([Row(prompt, 1, 0.0)])
    return row.tokens


def test_decoding_stops_at_an_end_of_turn_id_of_the_generation_config(tiny_lm) -> None:
    lm, tokenizer = tiny_lm
    tokens = _greedy_tokens(lm, tokenizer)
    assert len(tokens) == MAX_NEW_TOKENS and tokenizer.eos_token_id not in tokens
    # The end-of-turn token: the first one that does not occur earlier, a few tokens in.
    turn_end = next(i for i in range(3, len(tokens)) if tokens[i] not in tokens[:i])
    before = tokenizer.decode(tokens[:turn_end], skip_special_tokens=True).strip()

    free = _generate(lm, tokenizer)
    lm.generation_config.eos_token_id = [tokenizer.eos_token_id, tokens[turn_end]]
    try:
        stopped = _generate(lm, tokenizer)
    finally:
        lm.generation_config.eos_token_id = tokenizer.eos_token_id

    assert stopped.completion_tokens == turn_end + 1
    assert stopped.text == before  # the end-of-turn token and the text after it are gone
    assert len(free.text) > len(before) and free.text.startswith(before)
    # The judge treats a cut-off answer as a failure (item 12), so the reason is kept.
    assert (stopped.finish_reason, free.finish_reason) == ("stop", "length")
