"""The stable train/test split of a prompt set, by prompt.

One rule for everything that holds data out: the export's `split` option and the reward
models' held-out evaluation (app.reward) both call `split_of`, so the pairs a researcher
exports as `split=test` are exactly the pairs a reward model with the same test fraction
never trained on.
"""

from __future__ import annotations

import hashlib


def split_of(content_hash: str, test_fraction: float, *, salt: str = "ranklab-split") -> str:
    """train or test, from a hash of the prompt's content: stable across exports, and a
    prompt never lands in both. Another `salt` draws an independent split (the reward
    models' validation prompts inside the train split)."""
    digest = hashlib.sha256(f"{salt}:{content_hash}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"
