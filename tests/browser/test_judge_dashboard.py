"""LLM judges in the browser (issue 13): an admin reads a judge's quality figures on the
prompt set dashboard; an annotator starts from a suggesting judge's order and submits it,
and the annotation records that the suggestion was shown."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.annotation.models import Annotation
from app.core.db import make_engine, make_sessionmaker
from app.prompt_sets.models import Candidate, Prompt
from tests.factories.accounts import DEFAULT_PASSWORD, make_user
from tests.factories.annotation import make_annotation
from tests.factories.export_data import candidate_ids
from tests.factories.judges import make_judge, make_judge_ranking
from tests.factories.prompt_sets import make_prompt_set
from tests.support.server import ranklab_env, run_cli, start_server


def _log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(base_url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_dashboard_judge_section_and_suggested_order(page: Page, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = ranklab_env(data_dir)
    assert run_cli(["db", "upgrade"], env).returncode == 0
    engine = make_engine(f"sqlite:///{data_dir / 'ranklab.db'}")
    with make_sessionmaker(engine)() as session:
        ps = make_prompt_set(session, prompts=2, candidates=3, annotators_per_prompt=2)
        done, open_prompt = session.scalars(select(Prompt).where(Prompt.prompt_set_id == ps.id))
        ids = candidate_ids(session, done)
        for cid, n in zip(ids, (10, 20, 30), strict=True):
            session.get(Candidate, cid).text = "word " * n
        people = [make_user(session, username=f"person{i}") for i in range(2)]
        for who in people:
            make_annotation(session, done, who, [[ids[0]], [ids[1]], [ids[2]]])
        judge = make_judge(session, ps, name="<i>wordy</i>", mode="pairwise")
        make_judge_ranking(
            session, judge, done, [[ids[2]], [ids[1]], [ids[0]]], pairs_judged=3, position_flips=1
        )
        suggester = make_judge(session, ps, name="helper", suggest_to_annotators=True)
        open_ids = candidate_ids(session, open_prompt)
        make_judge_ranking(session, suggester, open_prompt, [[c] for c in reversed(open_ids)])
        session.commit()
        admin = make_user(session, role="admin")
        annotator = make_user(session, username="ranker")
    server = start_server(env, tmp_path / "server.log")
    try:
        _log_in(page, server.base_url, admin.username)
        page.goto(f"{server.base_url}/admin/prompt-sets/{ps.id}")
        section = page.locator("[data-judge-quality]")
        expect(section.get_by_role("heading", name="LLM judges")).to_be_visible()
        row = section.locator('[data-judge="<i>wordy</i>@v1"]')
        expect(row).to_contain_text("<i>wordy</i> v1")  # shown as text, not markup
        expect(row.locator('[data-cell="agreement"]')).to_contain_text("0.0% (0 of 3)")
        expect(row.locator('[data-cell="flips"]')).to_contain_text("33.3% (1 of 3)")
        expect(row.locator('[data-cell="longer-judge"]')).to_contain_text("100.0% (3 of 3)")
        expect(row.locator('[data-cell="longer-people"]')).to_contain_text("0.0% (0 of 6)")
        page.get_by_role("button", name="Log out").click()

        _log_in(page, server.base_url, annotator.username)
        page.goto(f"{server.base_url}/annotate/{ps.id}")
        expect(page.locator("[data-suggested]")).to_be_visible()
        rows = page.locator("[data-ranking] .rank-row")
        expect(rows).to_have_count(3)
        order = [int(rows.nth(i).get_attribute("data-cid") or 0) for i in range(3)]
        assert order == list(reversed(open_ids))
        page.get_by_role("button", name="Submit ranking").click()
        # Untouched: the set asks to confirm the order as shown (the judge's here).
        page.get_by_role("button", name="Submit as shown").click()
        expect(page.locator("[data-nothing-left]")).to_be_visible()
    finally:
        server.stop()
    with make_sessionmaker(engine)() as session:
        stored = session.scalars(
            select(Annotation).where(Annotation.prompt_id == open_prompt.id)
        ).one()
        assert stored.suggestion_shown is True and stored.ranking == [
            [c] for c in reversed(open_ids)
        ]
    engine.dispose()
