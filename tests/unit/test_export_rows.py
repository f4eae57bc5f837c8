"""Pure export rules: KTO labels, consensus sides, the split, option validation, pseudonyms."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.analytics.agreement import PairTally
from app.exports.chat import gguf_chat_metadata, prompt_renderer
from app.exports.formats import consensus_row, fields, unpaired_label
from app.exports.pseudonym import pseudonym
from app.exports.schemas import ExportOptions
from app.generation.model_files import bundled_gguf
from app.prompt_sets.split import split_of


@pytest.mark.parametrize(
    ("rank", "groups", "all_bad", "flagged", "label"),
    [
        (1, 4, False, False, True),
        (2, 4, False, False, True),
        (3, 4, False, False, False),
        (2, 3, False, False, None),  # the exact middle group is left out
        (1, 1, False, False, None),  # everything tied says nothing
        (1, 4, True, False, False),  # "all bad": every candidate is a negative
        (1, 4, False, True, False),  # flagged by this annotator
    ],
)
def test_unpaired_label_rule(rank, groups, all_bad, flagged, label):
    assert unpaired_label(rank, groups, all_bad=all_bad, flagged=flagged) is label


def test_consensus_row_takes_the_majority_side():
    assert consensus_row(PairTally(1, 3, 0, 4, -1, 0.75), 5, 9) == (9, 5, 3, 1, True, 0.75)
    assert consensus_row(PairTally(2, 0, 1, 3, 1, 2 / 3), 5, 9) == (5, 9, 2, 0, True, 2 / 3)
    assert consensus_row(PairTally(1, 1, 1, 3, None, 1 / 3), 5, 9) is None
    assert consensus_row(PairTally(0, 0, 2, 2, 0, 1.0), 5, 9) is None  # majority says "tie"


# Pinned from outside Python: the first 16 hex digits of
# `printf 'ranklab-split:%064x' I | sha256sum`, read as a share of 2**64, is the prompt's
# draw; test when it is below the fraction. A split that changed between processes or
# releases would move prompts between train and test of an export already handed out.
HASH_0, HASH_2, HASH_6 = (f"{i:064x}" for i in (0, 2, 6))


@pytest.mark.parametrize(
    ("content_hash", "fraction", "side"),
    [
        (HASH_6, 0.2, "test"),  # 09e1c3689777092a: 0.0386
        (HASH_2, 0.2, "train"),  # 355e93398811b22d: 0.2085
        (HASH_2, 0.21, "test"),
        (HASH_0, 0.5, "train"),  # 822b31d10aff9c28: 0.5085
        (HASH_0, 0.51, "test"),
        (HASH_6, 0.0, "train"),  # no test set
    ],
)
def test_split_of_pinned_values(content_hash, fraction, side):
    assert split_of(content_hash, fraction) == side


def test_another_salt_draws_another_split():
    # `printf 'other:%064x' 6 | sha256sum`: 33e503f2abf7c87b, 0.2027
    assert split_of(HASH_6, 0.2, salt="other") == "train"
    assert split_of(HASH_6, 0.21, salt="other") == "test"


def test_split_follows_the_fraction():
    hashes = [f"{i:064x}" for i in range(2000)]
    # 397 of the 2000 draws are at most 0x3333333333333333 (0.2 of 2**64), counted with
    # the sha256sum loop above.
    assert sum(split_of(h, 0.2) == "test" for h in hashes) == 397
    assert all(split_of(h, 0.0) == "train" for h in hashes)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"format": "triples"}, "format"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"test_fraction": -0.01}, "test_fraction"),
        ({"file_type": "xlsx"}, "file_type"),
        ({"exclude_flags": ("ugly",)}, "exclude_flags"),
        ({"min_agreement": 1.5}, "min_agreement"),
        ({"created_after": "not a date"}, "created_after"),
        ({"prompt_set_ids": ()}, "prompt_set_ids"),
    ],
)
def test_options_reject_bad_values(options, field):
    with pytest.raises(ValidationError) as info:
        ExportOptions.model_validate({"format": "pairs", "prompt_set_ids": (1,)} | options)
    assert field in str(info.value)


def test_core_columns_are_trl_fields():
    def names(**kw):
        return [n for n, _ in fields(ExportOptions(prompt_set_ids=(1,), columns="core", **kw))]

    assert names(format="pairs") == ["prompt", "chosen", "rejected"]
    assert names(format="pairs", margin=True) == ["prompt", "chosen", "rejected", "margin"]
    assert names(format="conversational") == ["prompt", "chosen", "rejected"]
    assert names(format="unpaired") == ["prompt", "completion", "label"]


def test_pseudonym_is_hmac_sha256_of_the_user_id():
    # Pinned from outside Python: `printf 'annotator:7' | openssl dgst -sha256 -hmac KEY`,
    # its first 16 hex digits. The same person keeps one pseudonym across exports.
    key = "k" * 48
    assert pseudonym(key, 7) == "ann-b4c02a429a5b91bf"
    assert pseudonym(key, 8) == "ann-ed95d6c8a8b26ba1"
    assert pseudonym("j" * 48, 7) == "ann-f2c66f979178e859"


def test_gguf_header_gives_the_chat_template():
    meta = gguf_chat_metadata(bundled_gguf())
    assert "<|im_start|>" in meta["chat_template"]
    assert meta["eos_token"] == "<|im_end|>"


@pytest.mark.model
@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "Hi <b>there</b>"}],
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Name a colour."},
            {"role": "assistant", "content": "Blue."},
            {"role": "user", "content": "Another?"},
        ],
    ],
)
def test_prompt_rendering_matches_the_tokenizer(messages):
    from app.generation.model_files import load_tokenizer

    tokenizer = load_tokenizer("smollm2")
    expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt_renderer("smollm2")(messages) == expected
    assert expected.endswith("<|im_start|>assistant\n")
