"""The dashboard's judge quality figures on hand-built data (SQLite and PostgreSQL):
agreement with the people's majority only over prompts that have both, the position-flip
rate from the stored counts, and length bias of the judge against the people's."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.judges.quality import judge_quality
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.annotation import make_annotation
from tests.factories.export_data import candidate_ids
from tests.factories.judges import make_judge, make_judge_ranking
from tests.factories.prompt_sets import make_prompt, make_prompt_set
from tests.support.http import login


def _sized_prompt(session: Session, ps: PromptSet, lengths: list[int]) -> tuple[Prompt, list[int]]:
    """A prompt whose candidates are `lengths` characters long (in candidate order)."""
    prompt = make_prompt(session, ps, text=f"Question {lengths}", candidates=len(lengths))
    ids = candidate_ids(session, prompt)
    for cid, n in zip(ids, lengths, strict=True):
        session.get(Candidate, cid).text = "x" * n
    session.flush()
    return prompt, ids


@pytest.fixture
def built(session: Session):
    """Two prompts with people's rankings (who prefer the SHORTER answer) and one prompt
    nobody has ranked yet; a listwise judge that always prefers the LONGER answer."""
    ps = make_prompt_set(session, prompts=0, commit=False)
    people = [make_user(session, role="annotator", username=f"p-{ps.id}-{i}") for i in range(3)]
    p1, c1 = _sized_prompt(session, ps, [10, 20, 30])  # c1[2] longest
    p2, c2 = _sized_prompt(session, ps, [5, 50])
    p3, c3 = _sized_prompt(session, ps, [1, 2])  # no people
    for who in people:
        make_annotation(session, p1, who, [[c1[0]], [c1[1]], [c1[2]]])
    # p2: two prefer the short answer, one the long: majority short.
    make_annotation(session, p2, people[0], [[c2[0]], [c2[1]]])
    make_annotation(session, p2, people[1], [[c2[0]], [c2[1]]])
    make_annotation(session, p2, people[2], [[c2[1]], [c2[0]]])
    judge = make_judge(session, ps, name="longer")
    make_judge_ranking(session, judge, p1, [[c1[2]], [c1[1]], [c1[0]]])
    make_judge_ranking(session, judge, p2, [[c2[1]], [c2[0]]])
    make_judge_ranking(session, judge, p3, [[c3[1]], [c3[0]]])
    session.commit()
    return ps, judge, (p1, c1), (p2, c2), (p3, c3)


def test_a_judge_that_prefers_longer_answers_shows_length_bias(session, built):
    ps, judge, *_ = built
    [row] = judge_quality(session, ps.id)
    assert row["judge_id"] == judge.id and (row["name"], row["version"]) == ("longer", 1)
    # Judge: p1's 3 pairs and p2's 1 pair (p3 has no people), all to the longer answer.
    assert row["longer_wins_judge"] == {"count": 4, "total": 4, "rate": 1.0}
    # People: p1 3 people x 3 pairs to the shorter; p2: 1 of 3 to the longer.
    assert row["longer_wins_people"] == {"count": 1, "total": 12, "rate": 1 / 12}


def test_agreement_counts_only_prompts_with_both(session, built):
    ps, *_ = built
    [row] = judge_quality(session, ps.id)
    assert (row["rankings"], row["failures"], row["prompts_with_people"]) == (3, 0, 2)
    # p1: 3 pairs, people unanimous the other way; p2: 1 pair, majority short: 0 of 4.
    assert row["human_agreement"] == {"count": 0, "total": 4, "rate": 0.0}
    assert row["position_flips"] is None  # listwise


def test_agreement_with_ties_and_split_pairs(session):
    ps = make_prompt_set(session, prompts=1, candidates=3, commit=False)
    prompt = session.query(Prompt).filter_by(prompt_set_id=ps.id).one()
    a, b, c = candidate_ids(session, prompt)
    people = [make_user(session, role="annotator", username=f"t-{ps.id}-{i}") for i in range(2)]
    make_annotation(session, prompt, people[0], [[a, b], [c]])
    make_annotation(session, prompt, people[1], [[a, b], [c]])
    judge = make_judge(session, ps)
    make_judge_ranking(session, judge, prompt, [[a, b], [c]])
    session.commit()
    [row] = judge_quality(session, ps.id)
    # (a,b): both people tied, the judge too; (a,c) and (b,c): all agree.
    assert row["human_agreement"] == {"count": 3, "total": 3, "rate": 1.0}
    # Ties have no winner: the length share counts won pairs only (all texts equal here).
    assert row["longer_wins_judge"]["total"] == 0 and row["longer_wins_judge"]["rate"] is None


def test_flip_rate_from_stored_counts_per_version(session, built):
    ps, _, (p1, c1), (p2, c2), _ = built
    v1 = make_judge(session, ps, name="pairs", mode="pairwise", is_current=False)
    v2 = make_judge(session, ps, name="pairs", version=2, mode="pairwise")
    make_judge_ranking(
        session, v1, p1, [[c1[0]], [c1[1]], [c1[2]]], pairs_judged=3, position_flips=2
    )
    make_judge_ranking(
        session, v2, p1, [[c1[0]], [c1[1]], [c1[2]]], pairs_judged=3, position_flips=1
    )
    make_judge_ranking(session, v2, p2, [[c2[0]], [c2[1]]], pairs_judged=1, position_flips=0)
    make_judge_ranking(session, v2, built[4][0], None)  # a failure
    session.commit()
    rows = {(r["name"], r["version"]): r for r in judge_quality(session, ps.id)}
    assert rows[("pairs", 1)]["position_flips"] == {"count": 2, "total": 3, "rate": 2 / 3}
    assert rows[("pairs", 2)]["position_flips"] == {"count": 1, "total": 4, "rate": 0.25}
    assert rows[("pairs", 2)]["failures"] == 1 and rows[("pairs", 2)]["rankings"] == 2
    assert rows[("pairs", 1)]["is_current"] is False
    # v2 agrees with the people everywhere: p1 3 of 3, p2 1 of 1.
    assert rows[("pairs", 2)]["human_agreement"] == {"count": 4, "total": 4, "rate": 1.0}


def test_dashboard_page_and_json_show_judges_escaped(client, session, built):
    ps, judge, *_ = built
    judge.name = "<b>bold</b>"
    session.commit()
    admin = make_user(session, role="admin")
    login(client, admin.username, DEFAULT_PASSWORD)
    page = client.get(f"/admin/prompt-sets/{ps.id}")
    assert page.status_code == 200
    assert "&lt;b&gt;bold&lt;/b&gt; v1" in page.text and "<b>bold</b>" not in page.text
    assert '100.0% <span class="muted small">(4 of 4)</span>' in page.text
    data = client.get(f"/api/v1/prompt-sets/{ps.id}/dashboard").json()
    assert data["judges"][0]["longer_wins_people"]["total"] == 12
    researcher = make_user(session, role="researcher")
    headers = {"Authorization": f"Bearer {make_token(session, researcher)}"}
    stats = client.get(f"/api/v1/prompt-sets/{ps.id}/stats", headers=headers).json()
    assert stats["judges"][0]["human_agreement"] == {"count": 0, "total": 4, "rate": 0.0}
    assert stats["annotations"] == 6  # people only


def test_a_set_without_judges_says_so(client, session):
    ps = make_prompt_set(session, prompts=1)
    assert judge_quality(session, ps.id) == []
    admin = make_user(session, role="admin")
    login(client, admin.username, DEFAULT_PASSWORD)
    assert "No LLM judge is attached" in client.get(f"/admin/prompt-sets/{ps.id}").text
