"""The consensus export's two methods, majority and reliability-weighted, on a set where
they must disagree: two adversaries outvote one good annotator on one prompt (SQLite and
PostgreSQL; over HTTP and the CLI too)."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.analytics.fit_cache import AnalyticsCache
from app.annotation.models import Annotation
from app.core.db import make_engine
from app.exports import service
from app.exports.plan import ExportPlan
from app.exports.pseudonym import pseudonym
from app.prompt_sets.models import Prompt, PromptSet
from tests.factories.accounts import make_token, make_user
from tests.factories.annotation import make_annotation
from tests.factories.export_data import candidate_ids
from tests.factories.prompt_sets import make_prompt_set
from tests.support import databases
from tests.support.server import ranklab_env, run_cli
from tests.support.sessions import SharedSession

KEY = "k" * 48
CONSENSUS_META_TAIL = [
    "ties",
    "annotators",
    "agreement",
    "majority",
    "adjudicated",
    "confidence",
    "annotator_origin",
]


@dataclass
class Crowd:
    prompt_set: PromptSet
    good: list[User]
    adversaries: list[User]
    # the prompt that only one good annotator and both adversaries ranked
    contested: Prompt
    # prompt id -> candidate ids, truly best first
    truth: dict[int, list[int]]


def make_crowd(session: Session) -> Crowd:
    """Six prompts ranked by three good annotators (the true order: candidates by position)
    and two adversaries (reversed); a seventh ranked by one good annotator and both
    adversaries, whose majority is the reverse of the truth."""
    ps = make_prompt_set(session, prompts=7, candidates=3, commit=False)
    ps.generation = {"model": "smollm2"}
    users = [User(username=f"crowd-{ps.id}-{i}", role="annotator") for i in range(5)]
    session.add_all(users)
    session.flush()
    good, adversaries = users[:3], users[3:]
    prompts = list(
        session.scalars(select(Prompt).where(Prompt.prompt_set_id == ps.id).order_by(Prompt.id))
    )
    truth = {}
    for index, prompt in enumerate(prompts):
        ids = candidate_ids(session, prompt)
        truth[prompt.id] = ids
        raters = good + adversaries if index < 6 else [good[0], *adversaries]
        for user in raters:
            order = ids if user in good else ids[::-1]
            make_annotation(session, prompt, user, [[c] for c in order])
    session.commit()
    return Crowd(ps, good, adversaries, prompts[-1], truth)


@pytest.fixture
def crowd(session: Session) -> Crowd:
    return make_crowd(session)


def consensus(session: Session, crowd: Crowd, **raw: object) -> list[dict]:
    plan = service.parse_options(
        session,
        {"format": "consensus", "prompt_set": [crowd.prompt_set.id], **raw},
        secret_key=KEY,
        default_model="smollm2",
    )
    return list(service.iter_rows(session, plan))


def cache_rows(session: Session) -> list[AnalyticsCache]:
    kind = service.RELIABILITY_CACHE
    return list(session.scalars(select(AnalyticsCache).where(AnalyticsCache.kind == kind)))


def reliability_plan(session: Session, crowd: Crowd, **raw: object) -> ExportPlan:
    return service.parse_options(
        session,
        {"format": "consensus", "prompt_set": [crowd.prompt_set.id]}
        | {"consensus_method": "reliability", **raw},
        secret_key=KEY,
        default_model="smollm2",
    )


def test_reliability_fit_is_cached_per_filters_and_data_version(session, crowd):
    fitted = service.annotator_reliability(session, reliability_plan(session, crowd))
    [row] = cache_rows(session)
    assert row.prompt_set_id == crowd.prompt_set.id
    assert row.payload["annotators"] == [[u, r.skill, r.votes] for u, r in sorted(fitted.items())]
    # A second plan (another request, another process) reads the row instead of refitting:
    # a skill changed in the row is what it gets back.
    good = crowd.good[0].id
    changed = [[u, 0.25 if u == good else s, n] for u, s, n in row.payload["annotators"]]
    session.execute(update(AnalyticsCache).values(payload={"annotators": changed}))
    again = service.annotator_reliability(session, reliability_plan(session, crowd))
    assert again[good].skill == 0.25 and again[good].votes == fitted[good].votes
    # Other filters are another entry.
    fewer = reliability_plan(session, crowd, annotators=[pseudonym(KEY, u.id) for u in crowd.good])
    assert set(service.annotator_reliability(session, fewer)) == {u.id for u in crowd.good}
    assert len(cache_rows(session)) == 2
    # New data is a new version: refitted, and the row replaced.
    prompt = crowd.contested
    make_annotation(session, prompt, crowd.good[1], [[c] for c in crowd.truth[prompt.id]])
    session.commit()
    refit = service.annotator_reliability(session, reliability_plan(session, crowd))
    second = crowd.good[1].id
    assert refit[good].skill > 0.9 and refit[second].votes == fitted[second].votes + 3
    assert len(cache_rows(session)) == 2


def stated_pairs(rows: list[dict], prompt_id: int) -> set[tuple[int, int]]:
    return {(r["chosen_id"], r["rejected_id"]) for r in rows if r["prompt_id"] == prompt_id}


def true_pairs(crowd: Crowd, prompt_id: int) -> set[tuple[int, int]]:
    ids = crowd.truth[prompt_id]
    return {(ids[i], ids[j]) for i in range(len(ids)) for j in range(i + 1, len(ids))}


def test_reliability_consensus_recovers_the_pairs_majority_gets_backwards(session, crowd):
    majority = consensus(session, crowd)
    weighted = consensus(session, crowd, consensus_method="reliability")
    contested = crowd.contested.id
    reversed_truth = {(b, a) for a, b in true_pairs(crowd, contested)}
    assert stated_pairs(majority, contested) == reversed_truth
    assert stated_pairs(weighted, contested) == true_pairs(crowd, contested)
    for prompt_id in crowd.truth:
        if prompt_id != contested:
            assert stated_pairs(majority, prompt_id) == true_pairs(crowd, prompt_id)
            assert stated_pairs(weighted, prompt_id) == true_pairs(crowd, prompt_id)
    assert len(majority) == len(weighted) == 7 * 3


def test_consensus_rows_carry_counts_and_a_confidence(session, crowd):
    majority = consensus(session, crowd)
    weighted = consensus(session, crowd, consensus_method="reliability")
    for row in majority + weighted:
        assert list(row)[-7:] == CONSENSUS_META_TAIL
        assert row["majority"] is True
    # Majority: the winner's share of the votes (3 of 5 on the unanimous-by-kind prompts).
    assert sorted({round(r["confidence"], 6) for r in majority}) == [0.6, 0.666667]
    contested = [r for r in weighted if r["prompt_id"] == crowd.contested.id]
    # Reliability: the model's probability; the counts stay the unweighted votes (1 vs 2).
    assert all(r["confidence"] > 0.9 for r in weighted)
    assert all((r["votes_chosen"], r["votes_rejected"]) == (1, 2) for r in contested)


def test_reliability_card_names_the_method_and_pseudonymised_weights(session, crowd):
    plan = service.parse_options(
        session,
        {"format": "consensus", "prompt_set": [crowd.prompt_set.id]}
        | {"consensus_method": "reliability", "bundle": "true"},
        secret_key=KEY,
        default_model="smollm2",
    )
    data = b"".join(service.export_chunks(lambda: SharedSession(session), plan))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        card = zf.read("README.md").decode()
        rows = [
            json.loads(line)
            for name in ("train.jsonl", "test.jsonl")
            for line in zf.read(name).decode().splitlines()
        ]
    assert "Consensus method: `reliability`" in card and "OneCoinDawidSkene" in card
    assert len(rows) == 21
    lines = {u.id: line for u in crowd.good + crowd.adversaries for line in card.splitlines()
             if line.startswith(f"| {pseudonym(KEY, u.id)} |")}  # fmt: skip
    assert len(lines) == 5
    assert all(float(lines[u.id].split("|")[4]) > 1.0 for u in crowd.good)
    assert all(float(lines[u.id].split("|")[4]) < -1.0 for u in crowd.adversaries)
    assert not any(u.username in card for u in crowd.good + crowd.adversaries)


def test_majority_card_names_the_method(session, crowd):
    plan = service.parse_options(
        session,
        {"format": "consensus", "prompt_set": [crowd.prompt_set.id], "bundle": "true"},
        secret_key=KEY,
        default_model="smollm2",
    )
    data = b"".join(service.export_chunks(lambda: SharedSession(session), plan))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        card = zf.read("README.md").decode()
    assert "Consensus method: `majority`" in card and "OneCoinDawidSkene" not in card


def test_bad_consensus_method_is_a_422_naming_the_field(client: TestClient, session, crowd):
    client.app.state.sessionmaker = lambda: SharedSession(session)
    headers = {"Authorization": f"Bearer {make_token(session, make_user(session, role='admin'))}"}
    before = session.scalar(select(func.count()).select_from(Annotation))
    url = f"/api/v1/exports/consensus?prompt_set={crowd.prompt_set.id}&consensus_method=vibes"
    response = client.get(url, headers=headers)
    assert response.status_code == 422
    body = response.json()
    assert "consensus_method" in body["error"]
    assert any(e.get("field") == "consensus_method" for e in body["errors"])
    assert session.scalar(select(func.count()).select_from(Annotation)) == before
    bad_filter = client.get(
        url.replace("vibes", "reliability") + "&created_after=yesterday", headers=headers
    )
    assert bad_filter.status_code == 422 and "created_after" in bad_filter.text
    assert cache_rows(session) == []  # rejected options fit nothing and store nothing
    ok = client.get(url.replace("vibes", "reliability"), headers=headers)
    assert ok.status_code == 200 and len(ok.text.splitlines()) == 21
    assert len(cache_rows(session)) == 1


def test_research_page_offers_and_previews_the_method(client: TestClient, session, crowd):
    from tests.factories.accounts import DEFAULT_PASSWORD
    from tests.support.http import login

    user = make_user(session, role="researcher")
    login(client, user.username, DEFAULT_PASSWORD)
    base = f"/research?prompt_set={crowd.prompt_set.id}&format=consensus"
    page = client.get(base + "&consensus_method=reliability")
    assert page.status_code == 200
    assert '<option value="reliability" selected>' in page.text
    assert "consensus_method=reliability" in page.text  # in the download link
    bad = client.get(base + "&consensus_method=vibes")
    assert bad.status_code == 422 and "consensus_method" in bad.text


def test_cli_consensus_method(tmp_path: Path) -> None:
    url = databases.migrated(databases.sqlite_url(tmp_path / "cli.db"))
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            crowd = make_crowd(session)
    finally:
        engine.dispose()
    env = ranklab_env(tmp_path / "data", url, RANKLAB_SECRET_KEY="s" * 48)
    out = tmp_path / "consensus.jsonl"
    args = ["export", "consensus", "--prompt-set", crowd.prompt_set.name, "-o", str(out)]
    result = run_cli([*args, "--consensus-method", "reliability", "--no-progress"], env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert stated_pairs(rows, crowd.contested.id) == true_pairs(crowd, crowd.contested.id)
    out.unlink()
    bad = run_cli([*args, "--consensus-method", "vibes"], env)
    assert bad.returncode == 2 and "consensus-method" in bad.stderr
    assert not out.exists()
    # The CLI process stored its fit in the database; this process (another engine) reads
    # it instead of refitting: a skill changed in the row is what the export weighs by.
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            [row] = cache_rows(session)
            skills = {u: s for u, s, _ in row.payload["annotators"]}
            assert skills[crowd.good[0].id] > 0.9
            flipped = [[u, 1 - s, n] for u, s, n in row.payload["annotators"]]
            session.execute(update(AnalyticsCache).values(payload={"annotators": flipped}))
            session.commit()
            fitted = service.annotator_reliability(session, reliability_plan(session, crowd))
            assert fitted[crowd.good[0].id].skill == 1 - skills[crowd.good[0].id]
            assert len(cache_rows(session)) == 1
    finally:
        engine.dispose()
