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


def test_split_is_stable_and_follows_the_fraction():
    hashes = [f"{i:064x}" for i in range(2000)]
    test_share = sum(split_of(h, 0.2) == "test" for h in hashes) / len(hashes)
    assert 0.16 < test_share < 0.24
    assert [split_of(h, 0.2) for h in hashes] == [split_of(h, 0.2) for h in hashes]
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


def test_pseudonym_depends_on_key_and_user_only():
    key = "k" * 48
    assert pseudonym(key, 7) == pseudonym(key, 7)
    assert pseudonym(key, 7) != pseudonym(key, 8)
    assert pseudonym(key, 7) != pseudonym("j" * 48, 7)


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
