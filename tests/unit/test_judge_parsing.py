"""Reading a judge's answer strictly: orders, verdicts, hostile and garbage output; the
rubric template; pair verdicts into a ranking."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.judges.parsing import (
    MAX_RAW_CHARS,
    PairVerdicts,
    UnparseableOutput,
    parse_listwise,
    parse_verdict,
    ranking_from_pairs,
    storable,
)
from app.judges.rubric import fill, listwise_message, pairwise_message, rubric_problems
from app.judges.schemas import JudgeEdit, JudgeIn

ABCD = ["A", "B", "C", "D"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("B > A > D > C", [["B"], ["A"], ["D"], ["C"]]),
        ("B>A>D>C", [["B"], ["A"], ["D"], ["C"]]),
        ("B, A, D, C", [["B"], ["A"], ["D"], ["C"]]),
        ("B A D C", [["B"], ["A"], ["D"], ["C"]]),
        ("B = A > D > C", [["B", "A"], ["D"], ["C"]]),
        ("C > A = B = D", [["C"], ["A", "B", "D"]]),
        ("Ranking: [B] > [A] > [D] > [C].", [["B"], ["A"], ["D"], ["C"]]),
        ("**Final ranking: D > C > B > A**", [["D"], ["C"], ["B"], ["A"]]),
        ("`A > B > C > D`", [["A"], ["B"], ["C"], ["D"]]),
        ("Let me think.\nB is brief, A rambles.\n\nB > A > C > D\n", [["B"], ["A"], ["C"], ["D"]]),
        # The last order wins: models restate their answer after thinking out loud.
        ("A > B > C > D\nOn reflection:\nD > C > B > A", [["D"], ["C"], ["B"], ["A"]]),
    ],
)
def test_listwise_orders_are_read_from_the_last_order_line(text, expected) -> None:
    assert parse_listwise(text, ABCD) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no line of the answer is an order"),
        ("I think the second answer is best.", "no line of the answer is an order"),
        ("b > a > d > c", "no line of the answer is an order"),  # lower case is prose
        ("B > A > C", "label D missing"),  # partial: never completed by us
        ("B > A", "labels C, D missing"),
        ("B", "labels A, C, D missing"),
        ("B > A > B > C > D", "label B appears twice"),
        ("A > A > A > A", "label A appears twice"),
        ("B > A > E > C > D", "unknown label E"),
        ("<script>alert(1)</script>", "no line of the answer is an order"),
        ("A > B > C > D; DROP TABLE judge_ranking;--", "no line of the answer is an order"),
        ("\x00\x00\ud800", "no line of the answer is an order"),
        ("A >> B > C > D", "no line of the answer is an order"),
        ("A > B > C > D" + " > A" * 5000, "label A appears twice"),
    ],
)
def test_listwise_garbage_partial_and_duplicate_orders_fail_with_the_reason(text, reason) -> None:
    with pytest.raises(UnparseableOutput, match=reason):
        parse_listwise(text, ABCD)


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("A", "A"),
        ("b", "B"),
        ("Tie", "tie"),
        ("equal", "tie"),
        ("[[B]]", "B"),
        ("Verdict: A.", "A"),
        ("The better answer is B", "B"),
        ("Answer A", "A"),
        ("Both are fine, but A is shorter.\nA", "A"),
        ("**B**", "B"),
    ],
)
def test_pair_verdicts(text, verdict) -> None:
    assert parse_verdict(text) == verdict


@pytest.mark.parametrize(
    "text", ["", "A or B", "A and B", "C", "I prefer the first.", "AB", "A > B", "\x00"]
)
def test_a_pair_answer_that_is_not_a_verdict_fails(text) -> None:
    with pytest.raises(UnparseableOutput, match="no line of the answer is a verdict"):
        parse_verdict(text)


def test_pair_wins_make_tie_groups_and_flips_are_counted() -> None:
    pairs = [
        PairVerdicts(1, 2, 1, 1),  # 1 beats 2 in both orders
        PairVerdicts(1, 3, 1, 1),
        PairVerdicts(2, 3, 2, 3),  # flipped with the order: a point each
    ]
    assert ranking_from_pairs([1, 2, 3], pairs) == [[1], [2, 3]]
    assert [p.flipped for p in pairs] == [False, False, True]
    ties = [PairVerdicts(1, 2, None, None)]
    assert ranking_from_pairs([1, 2], ties) == [[1, 2]]
    assert not ties[0].flipped
    # A win in one order and a tie in the other is still a flip.
    assert PairVerdicts(1, 2, 1, None).flipped


def test_raw_output_is_made_storable() -> None:
    assert storable("a\x00b") == "a\ufffdb"
    assert storable("x\ud800y") == "x?y"
    long = storable("z" * (MAX_RAW_CHARS + 10))
    assert long.startswith("z" * MAX_RAW_CHARS) and long.endswith("[… 10 more characters]")


def test_the_rubric_needs_both_placeholders_and_refuses_unknown_ones() -> None:
    assert rubric_problems("Judge {prompt} by {candidates}.") == []
    assert rubric_problems('Answer as {"order": [...]} for {prompt} and {candidates}') == []
    assert rubric_problems("Judge {prompt}.") == ["the rubric needs the placeholder {candidates}"]
    assert rubric_problems("{prompt} {candidates} {candidate}") == [
        "unknown placeholder {candidate}; use {prompt} and {candidates}"
    ]


def test_filling_never_expands_placeholders_inside_the_prompt_or_answers() -> None:
    text = fill("Q: {prompt}\nA: {candidates}", prompt="say {candidates}", candidates="[A]\nhi")
    assert text == "Q: say {candidates}\nA: [A]\nhi"


def test_messages_label_the_answers_and_ask_for_the_format() -> None:
    message = listwise_message("{prompt}\n{candidates}", "Why?", ["one", "two", "three"])
    assert "[A]\none\n\n[B]\ntwo\n\n[C]\nthree" in message
    assert message.rstrip().endswith("B > A = C")
    pair = pairwise_message("{prompt}\n{candidates}", "Why?", "first", "second")
    assert "[A]\nfirst\n\n[B]\nsecond" in pair and '"A", "B" or "tie"' in pair


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "x", "rubric": "no placeholders"}, "rubric"),
        ({"name": "x", "mode": "tournament"}, "mode"),
        ({"name": "bad name!"}, "name"),
        ({"name": "x", "surprise": 1}, "surprise"),
        ({"name": "x", "suggest_to_annotators": "yes"}, "suggest_to_annotators"),
        ({"name": "x", "settings": {"a\x00": 1}}, "settings"),
    ],
)
def test_judge_input_names_the_bad_field(fields, field) -> None:
    with pytest.raises(ValidationError) as info:
        JudgeIn.model_validate(fields)
    assert info.value.errors()[0]["loc"][0] == field


def test_an_edit_checks_a_new_rubric_too() -> None:
    with pytest.raises(ValidationError, match="needs the placeholder"):
        JudgeEdit.model_validate({"rubric": "{prompt} only"})
    assert JudgeEdit.model_validate({}).rubric is None
