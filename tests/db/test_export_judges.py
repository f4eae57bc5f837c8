"""Exports by origin (issue 13): people's rankings by default, LLM judges' rankings when
asked (`origin=judge|all`), the `annotator_origin` and `suggestion_shown` columns, and
`exclude_suggestion_shown` (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.core.db import make_engine
from app.exports import card, service
from app.exports.formats import json_line
from tests.factories.accounts import DEFAULT_PASSWORD, make_user
from tests.factories.export_data import ExportScenario, make_export_scenario
from tests.factories.judges import make_judge, make_judge_ranking
from tests.support import databases
from tests.support.http import login
from tests.support.server import ranklab_env, run_cli
from tests.support.sessions import SharedSession

KEY = "k" * 48


def add_judges(session: Session, scenario: ExportScenario) -> None:
    """helpful v1 (replaced), helpful v2 (current) and brief v1 (current); helpful v2
    fails on the gold item (a failure has no ranking and is never exported)."""
    ps, s, m = scenario.prompt_set, scenario.cands["single"], scenario.cands["multi"]
    old = make_judge(session, ps, name="helpful", version=1, is_current=False)
    new = make_judge(session, ps, name="helpful", version=2)
    brief = make_judge(session, ps, name="brief", mode="pairwise")
    make_judge_ranking(session, old, scenario.single, [[s[2]], [s[1]], [s[0]]])
    make_judge_ranking(session, new, scenario.single, [[s[0]], [s[1]], [s[2]]])
    make_judge_ranking(session, new, scenario.multi, [[m[0]], [m[1]], [m[2]], [m[3]]])
    make_judge_ranking(session, new, scenario.gold, None, raw_output="I like both.")
    make_judge_ranking(
        session, brief, scenario.single, [[s[1]], [s[0], s[2]]], pairs_judged=3, position_flips=1
    )
    session.commit()


@pytest.fixture
def scenario(session: Session) -> ExportScenario:
    return make_export_scenario(session)


def plan(session: Session, scenario: ExportScenario, fmt: str, **raw: object):
    return service.parse_options(
        session,
        {"format": fmt, "prompt_set": [scenario.prompt_set.id], **raw},
        secret_key=KEY,
        default_model="smollm2",
    )


def rows(session: Session, scenario: ExportScenario, fmt: str, **raw: object) -> list[dict]:
    return list(service.iter_rows(session, plan(session, scenario, fmt, **raw)))


FORMATS = ("pairs", "conversational", "rankings", "unpaired", "consensus")


def test_judge_rankings_leave_the_default_export_unchanged(session, scenario):
    before = {fmt: rows(session, scenario, fmt) for fmt in FORMATS}
    add_judges(session, scenario)
    for fmt in FORMATS:
        after = rows(session, scenario, fmt)
        assert after == before[fmt], fmt
        assert after == rows(session, scenario, fmt, origin="human")
        assert {r["annotator_origin"] for r in after} == {"human"}
        assert not any(r["annotator"].startswith("judge:") for r in after if "annotator" in r)


def test_origin_judge_exports_current_versions_pairs_only(session, scenario):
    add_judges(session, scenario)
    out = rows(session, scenario, "pairs", origin="judge")
    # helpful v2: 3 (single) + 6 (multi); brief: [s1] > [s0, s2] gives 2; the gold failure none
    assert len(out) == 11
    assert {r["annotator_origin"] for r in out} == {"judge"}
    assert {r["annotator"] for r in out} == {"judge:helpful@v2", "judge:brief@v1"}
    assert not [r for r in out if r["prompt_id"] == scenario.gold.id]
    assert {r["suggestion_shown"] for r in out} == {False}
    assert {r["order_changed"] for r in out} == {None}
    s = scenario.cands["single"]
    brief = {(r["chosen_id"], r["rejected_id"]) for r in out if r["annotator"] == "judge:brief@v1"}
    assert brief == {(s[1], s[0]), (s[1], s[2])}
    margins = {
        (r["chosen_id"], r["rejected_id"]): r["margin"]
        for r in out
        if r["annotator"] == "judge:helpful@v2" and r["prompt_id"] == scenario.single.id
    }
    assert margins == {(s[0], s[1]): 1.0, (s[0], s[2]): 2.0, (s[1], s[2]): 1.0}
    every = rows(session, scenario, "pairs", origin="judge", judge_versions="all")
    assert len(every) == 14 and "judge:helpful@v1" in {r["annotator"] for r in every}


def test_origin_all_adds_judge_rows_to_the_peoples(session, scenario):
    human = rows(session, scenario, "pairs")
    add_judges(session, scenario)
    both = rows(session, scenario, "pairs", origin="all")
    assert len(both) == len(human) + 11
    assert [r for r in both if r["annotator_origin"] == "human"] != []
    people = [r for r in both if r["annotator_origin"] == "human"]
    # Same people's rows; only `agreement` may move (judges are extra voters when asked).
    strip = [{k: v for k, v in r.items() if k != "agreement"} for r in people]
    assert strip == [{k: v for k, v in r.items() if k != "agreement"} for r in human]
    ranked = rows(session, scenario, "rankings", origin="all")
    judges = [r for r in ranked if r["annotator_origin"] == "judge"]
    assert len(judges) == 3 and all(r["annotation_id"] is None for r in judges)
    assert len(ranked) == len(rows(session, scenario, "rankings")) + 3
    unpaired = rows(session, scenario, "unpaired", origin="judge")
    assert {r["annotator_origin"] for r in unpaired} == {"judge"} and unpaired


def test_consensus_with_judges_counts_each_version_as_a_voter(session, scenario):
    add_judges(session, scenario)
    human = {
        (r["prompt_id"], r["chosen_id"], r["rejected_id"]): r
        for r in rows(session, scenario, "consensus", include_no_majority="true")
    }
    both = rows(session, scenario, "consensus", origin="all", include_no_majority="true")
    single = [r for r in both if r["prompt_id"] == scenario.single.id]
    # Three people and two current judge versions voted on every pair of `single`.
    assert {r["annotators"] for r in single} == {5}
    assert {r["annotator_origin"] for r in single} == {"human+judge"}
    gold = [r for r in both if r["prompt_id"] == scenario.gold.id]
    assert gold and {r["annotator_origin"] for r in gold} == {"human"}  # the judge failed
    assert all(r["annotator_origin"] == "human" for r in human.values())
    s = scenario.cands["single"]
    # s0 > s2: people 3-0, helpful 1, brief ties it: 4 of 5.
    row = next(r for r in single if {r["chosen_id"], r["rejected_id"]} == {s[0], s[2]})
    assert (row["chosen_id"], row["votes_chosen"], row["ties"]) == (s[0], 4, 1)


def test_exclude_suggestion_shown_leaves_anchored_annotations_out(session, scenario):
    from app.annotation.models import Annotation

    a2 = scenario.annotators[1]
    anchored = (
        session.query(Annotation).filter_by(prompt_id=scenario.single.id, annotator_id=a2.id).one()
    )
    anchored.suggestion_shown = True
    session.commit()
    everything = rows(session, scenario, "pairs")
    assert sum(r["suggestion_shown"] for r in everything) == 3
    kept = rows(session, scenario, "pairs", exclude_suggestion_shown="true")
    assert len(kept) == len(everything) - 3 and not any(r["suggestion_shown"] for r in kept)
    count = service.preview(session, plan(session, scenario, "pairs", exclude_suggestion_shown="1"))
    assert count[1].rows == len(kept) and count[1].exact


@pytest.mark.parametrize("fmt", ["pairs", "conversational"])
@pytest.mark.parametrize(
    "raw",
    [
        {"origin": "all"},
        {"origin": "judge", "columns": "core", "margin": "1"},
        {"origin": "all", "ties": "both", "min_agreement": "0.5"},
    ],
)
def test_fast_jsonl_lines_match_rows_with_judges(session, scenario, fmt, raw):
    add_judges(session, scenario)
    p = plan(session, scenario, fmt, **raw)
    assert service.fast_jsonl(p.options)
    fast = list(service.iter_lines(session, p))
    assert fast == [json_line(r) for r in service.iter_rows(session, p)] and fast


def test_preview_counts_judge_rows_and_card_names_versions(session, scenario):
    add_judges(session, scenario)
    p = plan(session, scenario, "pairs", origin="judge")
    first, count = service.preview(session, p)
    assert (count.rows, count.exact) == (11, True) and len(first) == 5
    text = card.dataset_card(session, plan(session, scenario, "consensus", origin="all"), {}, None)
    assert "judge:helpful@v2 (listwise), 2 rankings" in text.replace("\\", "")
    assert "judge:brief@v1 (pairwise), 1 rankings" in text.replace("\\", "")
    assert "helpful@v1" not in text and "extra voter" in text
    human = card.dataset_card(session, plan(session, scenario, "pairs"), {}, None)
    assert "People only" in human and "judge:helpful" not in human


def test_bad_origin_is_a_422_naming_the_field(session, scenario):
    from app.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as err:
        plan(session, scenario, "pairs", origin="robots")
    assert err.value.errors[0]["field"] == "origin"


def test_http_export_by_origin(client, session, scenario):
    # The stream opens its own session; here it must see the test's open transaction.
    client.app.state.sessionmaker = lambda: SharedSession(session)
    add_judges(session, scenario)
    user = make_user(session, role="researcher")
    login(client, user.username, DEFAULT_PASSWORD)
    url = f"/api/v1/exports/pairs?prompt_set={scenario.prompt_set.id}&origin=judge"
    res = client.get(url)
    assert res.status_code == 200
    lines = [json.loads(line) for line in res.text.splitlines()]
    assert len(lines) == 11 and {r["annotator_origin"] for r in lines} == {"judge"}
    bad = client.get(url.replace("origin=judge", "origin=x"))
    assert bad.status_code == 422 and "origin" in bad.text
    page = client.get(f"/research?prompt_set={scenario.prompt_set.id}&format=pairs&origin=judge")
    assert page.status_code == 200 and "judge:helpful@v2" in page.text


def test_cli_exports_judge_rows(tmp_path: Path) -> None:
    url = databases.migrated(databases.sqlite_url(tmp_path / "cli.db"))
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            scenario = make_export_scenario(session)
            add_judges(session, scenario)
    finally:
        engine.dispose()
    env = ranklab_env(tmp_path / "data", url, RANKLAB_SECRET_KEY="s" * 48)
    out = tmp_path / "judges.jsonl"
    args = ["export", "pairs", "--prompt-set", scenario.prompt_set.name, "-o", str(out)]
    result = run_cli([*args, "--origin", "judge", "--judge-versions", "all", "--no-progress"], env)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 14 and {r["annotator_origin"] for r in lines} == {"judge"}


@pytest.mark.parametrize("origin", ["judge", "all"])
def test_reliability_consensus_weighs_judges_too(session, scenario, origin):
    # A judge version is one more voter: the reliability fit must give it a weight, or
    # origin=judge has no winner anywhere and origin=all silently drops the judges.
    add_judges(session, scenario)
    p = plan(session, scenario, "consensus", origin=origin, consensus_method="reliability")
    out = list(service.iter_rows(session, p))
    m = scenario.cands["multi"]
    multi = {(r["chosen_id"], r["rejected_id"]) for r in out if r["prompt_id"] == scenario.multi.id}
    # Only helpful v2 ranked `multi` among the judges: its order wins every pair there.
    assert {(m[0], m[1]), (m[1], m[2]), (m[0], m[3])} <= multi
    assert {"judge:helpful@v2", "judge:brief@v1"} <= set(
        card.dataset_card(session, p, {}, None).replace("\\", "").split()
    )
