"""The embedding cache keys on everything that changes a vector (issue 20, item 11): a
row cached for one token limit or dtype is never served for another. No model is loaded:
`before_compute` is called exactly when the cache cannot answer, and here it stops."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.generation.backends.transformers import pick_dtype
from app.prompt_sets.models import Candidate, Prompt
from app.reward import embeddings
from app.reward.backbone import backbone_key, input_hash, keep_end
from app.reward.models import CandidateEmbedding
from app.reward.schemas import TrainOptions
from tests.factories.reward import make_ranked_set


class WouldEmbed(Exception):
    pass


def _would_embed() -> None:
    raise WouldEmbed


def _cached_set(session, settings, opts: TrainOptions) -> dict[int, str]:
    """A set whose candidates are cached as embedding with `opts` and `settings` left them."""
    ps = make_ranked_set(session, prompts=1)
    ids = session.scalars(
        select(Candidate.id).join(Prompt).where(Prompt.prompt_set_id == ps.id)
    ).all()
    chats = {cid: f"chat text of candidate {cid}" for cid in ids}
    key = embeddings.cache_key(opts, pick_dtype(settings.generation_dtype))
    for cid, text in chats.items():
        session.add(
            CandidateEmbedding(
                candidate_id=cid,
                backbone=key,
                pooling=opts.pooling,
                input_hash=input_hash(text),
                dim=2,
                vector=b"\0" * 8,
            )
        )
    session.flush()
    return chats


def test_the_same_options_are_served_from_the_cache(session, settings):
    opts = TrainOptions(max_length=512)
    chats = _cached_set(session, settings, opts)
    stats = embeddings.EmbeddingStats()
    out = embeddings.embed_candidates(
        session, chats, opts, settings, stats=stats, before_compute=_would_embed
    )
    assert set(out) == set(chats) and stats.cached == len(chats)


def test_a_longer_token_limit_never_reuses_embeddings_truncated_at_the_shorter(session, settings):
    chats = _cached_set(session, settings, TrainOptions(max_length=512))
    with pytest.raises(WouldEmbed):
        embeddings.embed_candidates(
            session, chats, TrainOptions(max_length=1024), settings, before_compute=_would_embed
        )


def test_another_dtype_never_reuses_the_cached_embeddings(session, settings):
    opts = TrainOptions()
    chats = _cached_set(session, settings.model_copy(update={"generation_dtype": "float32"}), opts)
    bf16 = settings.model_copy(update={"generation_dtype": "bfloat16"})
    with pytest.raises(WouldEmbed):
        embeddings.embed_candidates(session, chats, opts, bf16, before_compute=_would_embed)


def test_truncation_keeps_the_end_so_the_candidate_stays_whole() -> None:
    # A 6-token prompt [1..6] and a 2-token candidate [8, 9] read at max_length 4: the
    # prompt loses its first 4 tokens, the candidate is kept.
    assert keep_end([1, 2, 3, 4, 5, 6, 8, 9], 4) == [5, 6, 8, 9]
    assert keep_end([1, 2, 3], 4) == [1, 2, 3]


def test_rows_cached_under_the_key_without_token_limit_are_embedded_again(session, settings):
    """Before issue 20 the key was the backbone's identity alone: such a row (embedded at
    some max_length, its start kept) is never served as another length's vector."""
    ps = make_ranked_set(session, prompts=1)
    ids = session.scalars(
        select(Candidate.id).join(Prompt).where(Prompt.prompt_set_id == ps.id)
    ).all()
    chats = {cid: f"chat text of candidate {cid}" for cid in ids}
    for cid, text in chats.items():
        session.add(
            CandidateEmbedding(
                candidate_id=cid,
                backbone=backbone_key("smollm2"),
                pooling="last",
                input_hash=input_hash(text),
                dim=2,
                vector=b"\0" * 8,
            )
        )
    session.flush()
    with pytest.raises(WouldEmbed):
        embeddings.embed_candidates(
            session, chats, TrainOptions(max_length=1024), settings, before_compute=_would_embed
        )
