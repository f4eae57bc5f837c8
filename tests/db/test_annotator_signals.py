"""Bias and spam signals on a real database (SQLite and PostgreSQL): the streamed loader,
the report, the people pages and the exports' exclude_flagged_annotators."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.analytics import loaders
from app.analytics.reports import annotator_signals, flagged_annotator_ids
from app.annotation.models import Annotation
from app.exports import service
from app.exports.pseudonym import pseudonym
from app.prompt_sets.models import Candidate, Prompt
from tests.factories.accounts import DEFAULT_PASSWORD, make_user
from tests.factories.prompt_sets import make_prompt_set
from tests.factories.signals import SignalCrowd, make_signal_crowd
from tests.support.http import login
from tests.support.sessions import SharedSession

KEY = "k" * 48
PROMPTS = 30


@pytest.fixture
def crowd(session: Session) -> SignalCrowd:
    return make_signal_crowd(session, prompts=PROMPTS)


def test_loader_streams_every_annotation_in_submission_order_with_characters_read(
    session: Session, crowd: SignalCrowd
) -> None:
    other = make_prompt_set(session, prompts=1)
    rows = list(loaders.iter_signal_rows(session, [crowd.prompt_set.id]))
    assert len(rows) == PROMPTS * 4
    assert {r.prompt_set_id for r in rows} == {crowd.prompt_set.id} != {other.id}
    stored = session.execute(
        select(Annotation.annotator_id, Annotation.prompt_id).order_by(
            Annotation.created_at, Annotation.id
        )
    ).all()
    assert [(r.annotator_id, r.prompt_id) for r in rows] == [tuple(s) for s in stored]
    first = rows[0]
    texts = session.scalars(select(Candidate.text).where(Candidate.prompt_id == first.prompt_id))
    prompt_text = session.scalar(select(Prompt.text).where(Prompt.id == first.prompt_id))
    assert first.chars == sum(len(t) for t in texts) + len(prompt_text or "")
    assert first.ranking and all(isinstance(c, int) for g in first.ranking for c in g)
    assert first.order_changed is True and first.suggestion_shown is False
    everywhere = list(loaders.iter_signal_rows(session))
    assert len(everywhere) == len(rows)


def test_the_spammer_is_flagged_and_the_honest_annotators_are_not(
    session: Session, crowd: SignalCrowd
) -> None:
    signals = annotator_signals(session)
    spam = {s.key for s in signals[crowd.spammer.id].flagged_signals}
    assert {"position_bias", "untouched_order", "too_fast", "straight_lining"} <= spam
    for person in crowd.honest:
        assert not signals[person.id].flagged, signals[person.id].tooltip()
        majority = next(s for s in signals[person.id].signals if s.key == "majority_agreement")
        assert majority.value == 1.0 and majority.numbers["votes with a majority of others"]
    assert flagged_annotator_ids(session, [crowd.prompt_set.id]) == [crowd.spammer.id]
    # Another set where nobody misbehaved flags nobody.
    assert flagged_annotator_ids(session, [make_prompt_set(session).id]) == []


def _export(session: Session, crowd: SignalCrowd, **raw: object) -> service.ExportPlan:
    return service.parse_options(
        session,
        {"format": "pairs", "prompt_set": [crowd.prompt_set.id], **raw},
        secret_key=KEY,
        default_model="smollm2",
    )


def test_export_leaves_out_flagged_annotators_and_keeps_everyone_else(
    session: Session, crowd: SignalCrowd
) -> None:
    spam = pseudonym(KEY, crowd.spammer.id)
    everything = list(service.iter_rows(session, _export(session, crowd)))
    plan = _export(session, crowd, exclude_flagged_annotators="true")
    assert plan.options.excluded_annotator_ids == (crowd.spammer.id,)
    kept = list(service.iter_rows(session, plan))
    assert spam in {r["annotator"] for r in everything}
    assert spam not in {r["annotator"] for r in kept}

    # The same rows otherwise (agreement is recomputed over the annotations kept).
    def key(r: dict) -> tuple:
        return (r["prompt_id"], r["annotator"], r["chosen_id"], r["rejected_id"])

    assert [key(r) for r in kept] == [key(r) for r in everything if r["annotator"] != spam]
    assert {r["agreement"] for r in kept} == {1.0}
    # The preview's SQL count (from the tallies) leaves them out too.
    _, count = service.preview(session, plan)
    assert count.exact and count.rows == len(kept)
    rankings = list(
        service.iter_rows(
            session,
            service.parse_options(
                session,
                {
                    "format": "rankings",
                    "prompt_set": [crowd.prompt_set.id],
                    "exclude_flagged_annotators": True,
                },
                secret_key=KEY,
                default_model="smollm2",
            ),
        )
    )
    assert len(rankings) == PROMPTS * len(crowd.honest)


def test_dataset_card_says_how_many_annotators_were_left_out(
    session: Session, crowd: SignalCrowd
) -> None:
    plan = _export(session, crowd, exclude_flagged_annotators="true", bundle="true")
    data = b"".join(service.export_chunks(lambda: SharedSession(session), plan))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        card = zf.read("README.md").decode()
        train = zf.read("train.jsonl").decode().splitlines()
    assert "Flagged annotators left out (`exclude_flagged_annotators`): 1 of them" in card
    assert '"exclude_flagged_annotators": true' in card
    assert pseudonym(KEY, crowd.spammer.id) not in {json.loads(x)["annotator"] for x in train}
    plain = _export(session, crowd, bundle="true")
    data = b"".join(service.export_chunks(lambda: SharedSession(session), plain))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert "Flagged annotators left out" not in zf.read("README.md").decode()


def test_export_option_must_be_a_boolean(session: Session, crowd: SignalCrowd) -> None:
    with pytest.raises(service.InvalidInput) as err:
        _export(session, crowd, exclude_flagged_annotators="maybe")
    assert err.value.errors[0]["field"] == "exclude_flagged_annotators"
    assert session.scalar(select(func.count()).select_from(Annotation)) == PROMPTS * 4


def test_people_pages_show_the_signals_to_admins_only(
    client: TestClient, session: Session, crowd: SignalCrowd
) -> None:
    make_user(session, role="admin", username="signals-admin")
    assert login(client, "signals-admin", DEFAULT_PASSWORD).status_code == 303
    people = client.get("/admin/users")
    assert people.status_code == 200
    assert f'data-signals="{crowd.spammer.id}"' in people.text
    assert "Position bias, Untouched order, Too fast for the text, Straight-lining" in people.text
    assert "Position bias: items 30, first shown ranked first 30" in people.text  # the title
    page = client.get(f"/admin/users/{crowd.spammer.id}")
    assert page.status_code == 200
    assert 'id="signals"' in page.text and 'data-signal="gold_agreement"' in page.text
    assert 'data-number="first shown ranked first">30<' in page.text
    honest = client.get(f"/admin/users/{crowd.honest[0].id}")
    assert honest.text.count('class="badge badge-paused">flagged<') == 0

    client.cookies.clear()
    annotator = crowd.honest[0]
    assert login(client, annotator.username, DEFAULT_PASSWORD).status_code == 303
    assert client.get("/admin/users").status_code == 403
    assert client.get(f"/admin/users/{crowd.spammer.id}").status_code == 403


def test_usernames_in_the_signals_column_are_escaped(
    client: TestClient, session: Session, crowd: SignalCrowd
) -> None:
    crowd.spammer.username = "<b>spam</b>"
    session.commit()
    make_user(session, role="admin", username="signals-admin2")
    login(client, "signals-admin2", DEFAULT_PASSWORD)
    text = client.get("/admin/users").text
    assert "<b>spam</b>" not in text and "&lt;b&gt;spam&lt;/b&gt;" in text


def test_research_form_offers_the_option_and_its_preview_honours_it(
    client: TestClient, session: Session, crowd: SignalCrowd
) -> None:
    make_user(session, role="researcher", username="signals-researcher")
    login(client, "signals-researcher", DEFAULT_PASSWORD)
    base = f"/research?format=rankings&prompt_set={crowd.prompt_set.id}"
    assert 'name="exclude_flagged_annotators"' in client.get("/research").text
    page = client.get(base + "&exclude_flagged_annotators=true")
    assert page.status_code == 200
    assert f"<strong data-row-count>{PROMPTS * len(crowd.honest)}</strong>" in page.text
    assert "exclude_flagged_annotators=true" in page.text  # the download link keeps it
    everyone = client.get(base).text
    assert f"<strong data-row-count>{PROMPTS * 4}</strong>" in everyone


def test_cli_flag_becomes_the_option() -> None:
    import argparse

    from app.cli import export as export_cli

    parser = argparse.ArgumentParser()
    export_cli.register(parser.add_subparsers())
    args = parser.parse_args(
        ["export", "pairs", "--prompt-set", "s", "-o", "x", "--exclude-flagged-annotators"]
    )
    assert export_cli._raw(args)["exclude_flagged_annotators"] is True
    args = parser.parse_args(["export", "pairs", "--prompt-set", "s", "-o", "x"])
    assert "exclude_flagged_annotators" not in export_cli._raw(args)
