"""Embeddings of (prompt, candidate) by a frozen backbone, cached in the database.

A cached row is keyed by candidate, pooling and `cache_key`: the backbone's identity
plus everything else that changes the vector (the token limit, the weights' dtype, the
truncation rule; issue 20: a key without them reused embeddings of inputs truncated at
another length), and carries the hash of the exact text embedded: a candidate whose
text, prompt or system prompt is unchanged is never embedded again; a changed one is
embedded and its row replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.generation.model_files import load_tokenizer
from app.prompt_sets.content import as_messages
from app.reward import backbone as bb
from app.reward.models import CandidateEmbedding
from app.reward.schemas import TrainOptions


@dataclass
class EmbeddingStats:
    cached: int = 0
    computed: int = 0
    seconds: float = 0.0
    tokens: int = 0


def candidate_chats(
    candidates: dict[int, tuple[int, str]],
    prompts: dict[int, tuple[str, str | None, Any]],
    system_prompt: str,
    ids: Iterable[int],
    tokenizer: Any,
) -> dict[int, str]:
    """candidate id -> the chat text the backbone reads."""
    out = {}
    for cid in ids:
        prompt_id, answer = candidates[cid]
        _, text, messages = prompts[prompt_id]
        out[cid] = bb.chat_text(tokenizer, as_messages(text, messages, system_prompt), answer)
    return out


def cache_key(opts: TrainOptions, dtype: str) -> str:
    """The embedding cache's `backbone` column: the backbone's identity, the token limit,
    the dtype the weights run in (`pick_dtype` resolved) and the truncation rule."""
    rule = f"max{opts.max_length}-{dtype}-{bb.TRUNCATION}"
    return f"{bb.backbone_key(opts.backbone)}|{rule}"


def embed_candidates(
    session: Session,
    chats: dict[int, str],
    opts: TrainOptions,
    app_settings: Settings,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    stats: EmbeddingStats | None = None,
    before_compute: Callable[[], None] | None = None,
) -> dict[int, np.ndarray]:
    """candidate id -> embedding, computing only what the cache lacks (added and
    flushed to the session; the caller commits). A background caller passes
    `before_compute=session.commit` so a long embedding run holds no transaction (on
    SQLite an open transaction holds the single write lock)."""
    import time

    from app.generation.backends.transformers import pick_dtype

    stats = stats if stats is not None else EmbeddingStats()
    backbone, pooling, max_length = opts.backbone, opts.pooling, opts.max_length
    key = cache_key(opts, pick_dtype(app_settings.generation_dtype))
    hashes = {cid: bb.input_hash(text) for cid, text in chats.items()}
    rows = {
        r.candidate_id: r
        for r in session.connection().execute(
            select(
                CandidateEmbedding.id,
                CandidateEmbedding.candidate_id,
                CandidateEmbedding.input_hash,
                CandidateEmbedding.vector,
            ).where(
                CandidateEmbedding.backbone == key,
                CandidateEmbedding.pooling == pooling,
                CandidateEmbedding.candidate_id.in_(list(chats)),
            )
        )
    }
    out: dict[int, np.ndarray] = {}
    missing = []
    for cid in chats:
        row = rows.get(cid)
        if row is not None and row.input_hash == hashes[cid]:
            out[cid] = np.frombuffer(row.vector, dtype="<f4")
        else:
            missing.append(cid)
    stats.cached += len(out)
    if not missing:
        return out
    if before_compute is not None:
        before_compute()
    lm, tokenizer = bb.load_backbone(backbone, app_settings)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    texts = [chats[cid] for cid in missing]
    started = time.perf_counter()
    vectors = bb.embed_texts(
        lm,
        tokenizer,
        texts,
        pooling=pooling,
        max_length=max_length,
        batch_size=opts.batch_size,
        on_batch=(lambda done: on_progress(done, len(texts))) if on_progress else None,
    )
    stats.seconds += time.perf_counter() - started
    stats.computed += len(missing)
    stats.tokens += sum(
        min(len(ids), max_length) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]
    )
    for cid, vector in zip(missing, vectors, strict=True):
        values = {"input_hash": hashes[cid], "dim": len(vector), "vector": vector.tobytes()}
        if cid in rows:
            session.execute(
                update(CandidateEmbedding)
                .where(CandidateEmbedding.id == rows[cid].id)
                .values(**values)
            )
        else:
            session.add(
                CandidateEmbedding(candidate_id=cid, backbone=key, pooling=pooling, **values)
            )
        out[cid] = vector
    session.flush()
    return out


def tokenizer_for(backbone: str) -> Any:
    """The backbone's tokenizer (for chat templates) without loading its weights."""
    return load_tokenizer(backbone)
