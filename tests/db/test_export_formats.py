"""Each export format's rows, fields and filters, on a scenario with ties, flags, a
multi-turn prompt, a gold item, "all bad" and three annotators (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile

import pyarrow.parquet as pq
import pytest
from sqlalchemy.orm import Session

from app.exports import service
from app.exports.pseudonym import pseudonym
from app.prompt_sets.split import split_of
from tests.factories.export_data import ExportScenario, make_export_scenario
from tests.support.sessions import SharedSession

KEY = "k" * 48
ASSISTANT_HEADER = "<|im_start|>assistant\n"


@pytest.fixture
def scenario(session: Session) -> ExportScenario:
    return make_export_scenario(session)


def rows(session: Session, scenario: ExportScenario, fmt: str, **raw: object) -> list[dict]:
    plan = service.parse_options(
        session,
        {"format": fmt, "prompt_set": [scenario.prompt_set.id], **raw},
        secret_key=KEY,
        default_model="smollm2",
    )
    return list(service.iter_rows(session, plan))


def file_bytes(session: Session, scenario: ExportScenario, fmt: str, **raw: object) -> bytes:
    plan = service.parse_options(
        session,
        {"format": fmt, "prompt_set": [scenario.prompt_set.id], **raw},
        secret_key=KEY,
        default_model="smollm2",
    )
    return b"".join(service.export_chunks(lambda: SharedSession(session), plan))


PAIR_META = {
    "prompt_id": int,
    "external_id": (str, type(None)),
    "chosen_id": int,
    "rejected_id": int,
    "chosen_model": str,
    "rejected_model": str,
    "chosen_generator": str,
    "rejected_generator": str,
    "annotator": str,
    "margin": float,
    "agreement": (float, type(None)),
    "tie": bool,
    "order_changed": (bool, type(None)),
    "created_at": str,
    "annotator_origin": str,
    "suggestion_shown": bool,
}


def test_pairs_rows_have_trl_fields_then_metadata(session, scenario):
    out = rows(session, scenario, "pairs")
    # single: 3 + 3 + 2 comparisons; multi: 5 (the "all bad" annotation left out); gold: 1
    assert len(out) == 14
    for row in out:
        assert list(row) == ["prompt", "chosen", "rejected", *PAIR_META]
        assert all(isinstance(row[k], str) for k in ("prompt", "chosen", "rejected"))
        assert row["prompt"].endswith(ASSISTANT_HEADER)
        for key, kind in PAIR_META.items():
            assert isinstance(row[key], kind), key
        assert row["tie"] is False and row["margin"] >= 1.0
    single = [r for r in out if r["prompt_id"] == scenario.single.id]
    # Recorded as sent: unknown (older rows), changed, and the shown order confirmed.
    assert sorted({repr(r["order_changed"]) for r in single}) == ["False", "None", "True"]
    multi = [r for r in out if r["prompt_id"] == scenario.multi.id]
    assert "<|im_start|>system\nBe brief.<|im_end|>" in multi[0]["prompt"]
    assert "<|im_start|>assistant\nBlue.<|im_end|>" in multi[0]["prompt"]


def test_pairs_core_columns_are_exactly_trl(session, scenario):
    assert all(
        list(r) == ["prompt", "chosen", "rejected"]
        for r in rows(session, scenario, "pairs", columns="core")
    )
    with_margin = rows(session, scenario, "pairs", columns="core", margin="true")
    assert all(list(r) == ["prompt", "chosen", "rejected", "margin"] for r in with_margin)


def test_margin_is_rating_difference_when_rated_else_rank_distance(session, scenario):
    out = rows(session, scenario, "pairs")
    m = scenario.cands["multi"]
    by_pair = {(r["chosen_id"], r["rejected_id"]): r["margin"] for r in out}
    assert by_pair[(m[2], m[0])] == 2.0 and by_pair[(m[2], m[3])] == 5.0
    s = scenario.cands["single"]
    single_a1 = [
        r
        for r in out
        if r["prompt_id"] == scenario.single.id
        and r["chosen_id"] == s[0]
        and r["rejected_id"] == s[2]
    ]
    # a1 puts them two groups apart; a2 and a3 one group apart.
    assert sorted(r["margin"] for r in single_a1) == [1.0, 1.0, 2.0]


def test_conversational_rows_are_chat_messages(session, scenario):
    out = rows(session, scenario, "conversational", columns="core")
    assert len(out) == 14
    multi = next(r for r in out if r["prompt"][0]["role"] == "system")
    assert [m["role"] for m in multi["prompt"]] == ["system", "user", "assistant", "user"]
    for row in out:
        assert list(row) == ["prompt", "chosen", "rejected"]
        assert all(set(m) == {"role", "content"} for m in row["prompt"])
        assert row["chosen"] == [{"role": "assistant", "content": row["chosen"][0]["content"]}]
        assert row["rejected"][0]["role"] == "assistant"


def test_rankings_one_row_per_annotation_with_tie_groups_flags_ratings(session, scenario):
    out = rows(session, scenario, "rankings")
    assert len(out) == 6
    m = scenario.cands["multi"]
    flagged = next(r for r in out if r["flags"])
    assert flagged["ranking"] == [[m[2]], [m[0], m[1]], [m[3]]]
    assert flagged["flags"] == [{"candidate_id": m[3], "kind": "unsafe"}]
    assert {"candidate_id": m[2], "rating": 6.0} in flagged["ratings"]
    assert flagged["rationale"] == "C is clearest."
    assert [c["id"] for c in flagged["candidates"]] == m
    assert set(flagged["candidates"][0]) == {"id", "text", "model"}
    assert sum(r["all_bad"] for r in out) == 1
    assert list(out[0]) == [
        "prompt",
        "candidates",
        "ranking",
        "all_bad",
        "flags",
        "ratings",
        "rationale",
        "prompt_id",
        "external_id",
        "annotation_id",
        "annotator",
        "seconds_spent",
        "order_changed",
        "created_at",
        "annotator_origin",
        "suggestion_shown",
    ]


def test_unpaired_labels_follow_the_stated_rule(session, scenario):
    out = rows(session, scenario, "unpaired")
    assert all(list(r)[:3] == ["prompt", "completion", "label"] for r in out)
    assert all(isinstance(r["label"], bool) and r["prompt"].endswith(ASSISTANT_HEADER) for r in out)
    # single: 2 + 2 (middle groups left out) + 3; multi: 2 (+ 4 "all bad" negatives); gold: 2
    assert len(out) == 15
    all_bad = [r for r in out if r["all_bad"]]
    assert len(all_bad) == 4 and not any(r["label"] for r in all_bad)
    flagged = next(r for r in out if r["flags"])
    assert flagged["label"] is False and flagged["rank"] == 3


def test_consensus_counts_on_the_hand_worked_example(session, scenario):
    out = rows(session, scenario, "consensus")
    s = scenario.cands["single"]
    single = {
        (r["chosen_id"], r["rejected_id"]): r for r in out if r["prompt_id"] == scenario.single.id
    }
    # (s0, s1): one vote each way and one tie -> no majority, left out.
    assert set(single) == {(s[0], s[2]), (s[1], s[2])}
    row = single[(s[0], s[2])]
    assert (row["votes_chosen"], row["votes_rejected"], row["ties"], row["annotators"]) == (
        3,
        0,
        0,
        3,
    )
    assert row["agreement"] == 1.0 and row["majority"] is True
    # multi: a1 only ("all bad" left out): 6 pairs, the tied one has no side majority.
    assert len([r for r in out if r["prompt_id"] == scenario.multi.id]) == 5
    assert len(out) == 8
    with_split = rows(session, scenario, "consensus", include_no_majority="true")
    split_row = next(
        r for r in with_split if r["prompt_id"] == scenario.single.id and not r["majority"]
    )
    assert (split_row["votes_chosen"], split_row["votes_rejected"], split_row["ties"]) == (1, 1, 1)
    assert split_row["agreement"] == pytest.approx(1 / 3)
    assert len(with_split) == 10


def test_pseudonym_is_stable_and_reveals_no_username(session, scenario):
    # Stable: each is the pinned HMAC of the key and the user id alone (tests/unit/
    # test_export_rows.py), so every export of this installation gives the same ones.
    first = rows(session, scenario, "rankings")
    names = {u.username for u in scenario.annotators}
    expected = {pseudonym(KEY, u.id) for u in scenario.annotators}
    assert {r["annotator"] for r in first} == expected
    for value in expected:
        assert re.fullmatch(r"ann-[0-9a-f]{16}", value)
        assert not any(name in value for name in names)
    assert pseudonym("another-key" * 4, scenario.annotators[0].id) not in expected


@pytest.mark.parametrize(
    ("raw", "count"),
    [
        ({"exclude_gold": "true"}, 13),
        ({"exclude_flags": "unsafe"}, 11),
        ({"exclude_flags": "broken"}, 14),
        ({"include_all_bad": "true"}, 20),
        ({"ties": "both"}, 18),
        ({"min_agreement": "0.5"}, 12),
    ],
)
def test_pairs_filters(session, scenario, raw, count):
    assert len(rows(session, scenario, "pairs", **raw)) == count


def test_ties_both_emits_both_orders_marked(session, scenario):
    ties = [r for r in rows(session, scenario, "pairs", ties="both") if r["tie"]]
    assert len(ties) == 4 and all(r["margin"] == 0.0 for r in ties)
    assert {(r["chosen_id"], r["rejected_id"]) for r in ties[:2]} == {
        (ties[0]["chosen_id"], ties[0]["rejected_id"]),
        (ties[0]["rejected_id"], ties[0]["chosen_id"]),
    }


def test_created_and_annotator_filters(session, scenario):
    after = (scenario.early + dt.timedelta(days=1)).isoformat()
    assert len(rows(session, scenario, "pairs", created_after=after)) == 11
    assert len(rows(session, scenario, "pairs", created_before=after)) == 3
    a3 = scenario.annotators[2]
    by_pseudonym = rows(session, scenario, "pairs", annotators=[pseudonym(KEY, a3.id)])
    assert len(by_pseudonym) == 2


def test_annotator_filter_takes_pseudonyms_only_and_reveals_no_usernames(session, scenario):
    a3 = scenario.annotators[2]
    messages = []
    for value in (a3.username, "no-such-user"):
        with pytest.raises(service.UnknownAnnotator) as caught:
            rows(session, scenario, "pairs", annotators=[value])
        messages.append(caught.value.message.replace(repr(value), "<value>"))
    assert messages[0] == messages[1]  # a real username and a made-up one look the same
    assert "pseudonym" in messages[0]


def test_dedupe_drops_identical_prompt_chosen_rejected(session, scenario):
    plain = rows(session, scenario, "pairs")
    deduped = rows(session, scenario, "pairs", dedupe="true")
    distinct = {(r["prompt"], r["chosen"], r["rejected"]) for r in plain}
    assert len(deduped) == len(distinct) < len(plain)


def test_split_is_by_prompt_and_stable(session, scenario):
    train = rows(session, scenario, "pairs", split="train", test_fraction="0.5")
    test = rows(session, scenario, "pairs", split="test", test_fraction="0.5")
    assert len(train) + len(test) == 14
    assert not {r["prompt_id"] for r in train} & {r["prompt_id"] for r in test}
    # Stable: the side is split_of the prompt's content hash (pinned in tests/unit/
    # test_export_rows.py), the rule the reward models hold out by.
    prompts = (scenario.single, scenario.multi, scenario.gold)
    sides = {p.id: split_of(p.content_hash, 0.5) for p in prompts}
    assert {r["prompt_id"] for r in test} == {i for i, side in sides.items() if side == "test"}
    assert {r["prompt_id"] for r in train} == {i for i, side in sides.items() if side == "train"}
    assert len(rows(session, scenario, "pairs", split="train", test_fraction="0")) == 14


def test_parquet_and_csv_files(session, scenario):
    table = pq.read_table(
        io.BytesIO(file_bytes(session, scenario, "conversational", file_type="parquet"))
    )
    assert table.num_rows == 14
    assert table.schema.names[:3] == ["prompt", "chosen", "rejected"]
    assert table.to_pylist()[0]["chosen"][0]["role"] == "assistant"
    rankings = pq.read_table(
        io.BytesIO(file_bytes(session, scenario, "rankings", file_type="parquet"))
    )
    assert rankings.num_rows == 6
    text = file_bytes(session, scenario, "pairs", file_type="csv", columns="core").decode()
    import csv

    parsed = list(csv.DictReader(io.StringIO(text)))
    assert len(parsed) == 14 and list(parsed[0]) == ["prompt", "chosen", "rejected"]


def test_jsonl_lines_parse(session, scenario):
    lines = file_bytes(session, scenario, "unpaired").decode().splitlines()
    assert len(lines) == 15 and all(json.loads(line)["completion"] for line in lines)


def test_bundle_has_train_test_and_card(session, scenario):
    data = file_bytes(session, scenario, "pairs", bundle="true", test_fraction="0.5")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["README.md", "test.jsonl", "train.jsonl"]
        train = zf.read("train.jsonl").decode().splitlines()
        test = zf.read("test.jsonl").decode().splitlines()
        card = zf.read("README.md").decode()
    assert len(train) + len(test) == 14
    assert f"Rows: train {len(train)}, test {len(test)}" in card
    assert "Annotators: 3" in card and "Krippendorff" in card and "RewardTrainer" in card
    assert "Rank by **helpfulness**" in card and "model-a" in card
    assert not any(u.username in card for u in scenario.annotators)


def test_card_keeps_hostile_set_text_inside_its_place(session, scenario):
    ps = scenario.prompt_set
    ps.name = "## Injected\n| x |"
    ps.description = "<script>alert(1)</script>"
    ps.guidelines = "Be fair.\n```\n# Fake section\n"
    session.commit()
    data = file_bytes(session, scenario, "rankings", bundle="true")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        lines = zf.read("README.md").decode().splitlines()
    headings = [line for line in lines if line.startswith("#")]
    assert r"### Prompt set: \#\# Injected \| x \|" in headings
    assert not any("Injected" in h and h.startswith("## ") for h in headings)
    assert "Fake section" not in " ".join(headings) and "> # Fake section" in lines
    assert "<script>" not in "\n".join(lines)
