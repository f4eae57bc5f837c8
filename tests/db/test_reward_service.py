"""Reward models without a model file: the rules around training, activation, routing,
roles and exports, on SQLite and PostgreSQL. Scores are written as activation writes them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import func, select

from app.annotation import assignment
from app.core.db import utcnow
from app.exports import service as export_service
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from app.reward import service
from app.reward.data import load_set_data, split_for
from app.reward.head import Scored
from app.reward.models import CandidateScore, RewardModel
from app.reward.schemas import RoutingIn
from app.reward.training import Outcome
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.annotation import make_annotation
from tests.factories.prompt_sets import make_prompt_set
from tests.factories.reward import make_ranked_set, make_scored_version, make_version
from tests.support.http import csrf_from, login
from tests.support.processes import calls_in_fresh_process


def _auth(session, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(session, make_user(session, role=role))}"}


def _versions(session) -> int:
    return session.scalar(select(func.count()).select_from(RewardModel)) or 0


def _candidates(session, prompt_set) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for prompt_id, cid in session.execute(
        select(Candidate.prompt_id, Candidate.id)
        .join(Prompt, Prompt.id == Candidate.prompt_id)
        .where(Prompt.prompt_set_id == prompt_set.id)
        .order_by(Candidate.prompt_id, Candidate.position)
    ):
        out.setdefault(prompt_id, []).append(cid)
    return out


def test_too_few_comparisons_is_409_with_the_counts_and_writes_nothing(client, session):
    ps = make_ranked_set(session, prompts=2)  # 2 prompts x 2 annotators x 6 pairs
    response = client.post(
        f"/api/v1/prompt-sets/{ps.id}/reward-models", json={}, headers=_auth(session, "admin")
    )
    assert response.status_code == 409
    assert "needs at least 50 comparisons (has 24)" in response.json()["error"]
    assert _versions(session) == 0


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"backbone": "/no/such/model"}, "backbone", "unknown backbone '/no/such/model'"),
        ({"backbone": "./missing.gguf"}, "backbone", "does not exist"),
        ({"backbone": "http://localhost:8000/v1"}, "backbone", "returns no hidden states"),
        ({"backbone": "nobody/not-cached-model"}, "backbone", "local cache"),
        ({"kind": "giant"}, "kind", "'fast' or 'full'"),
        ({"test_fraction": 0}, "test_fraction", "greater than 0"),
        ({"max_steps": -5}, "max_steps", "greater than or equal to -1"),
        ({"epoch": 2}, "epoch", "unknown option 'epoch'"),
    ],
)
def test_bad_backbone_or_option_is_422_naming_the_field(client, session, body, field, message):
    ps = make_ranked_set(session, prompts=5)
    response = client.post(
        f"/api/v1/prompt-sets/{ps.id}/reward-models", json=body, headers=_auth(session, "admin")
    )
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == field and message in error["message"]
    assert _versions(session) == 0


def test_a_valid_request_queues_a_version_with_its_options(client, session):
    ps = make_ranked_set(session, prompts=5)
    response = client.post(
        f"/api/v1/prompt-sets/{ps.id}/reward-models",
        json={"test_fraction": 0.3, "ensemble": 2},
        headers=_auth(session, "admin"),
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued" and body["kind"] == "fast" and not body["is_active"]
    assert body["options"]["test_fraction"] == 0.3 and body["options"]["backbone"] == "smollm2"
    cancel = client.post(
        f"/api/v1/reward-models/{body['id']}/cancel", headers=_auth(session, "admin")
    )
    assert cancel.json()["status"] == "cancelled"


def test_scoring_without_an_active_version_is_409(client, session):
    ps = make_ranked_set(session, prompts=1)
    response = client.post(
        f"/api/v1/prompt-sets/{ps.id}/reward-models/score", headers=_auth(session, "admin")
    )
    assert response.status_code == 409
    assert "has no active reward model" in response.json()["error"]


def test_activating_an_unfinished_version_is_409(client, session):
    ps = make_ranked_set(session, prompts=1)
    version = make_version(session, ps, status="running")
    response = client.post(
        f"/api/v1/reward-models/{version.id}/activate", headers=_auth(session, "admin")
    )
    assert response.status_code == 409 and "only a finished one" in response.json()["error"]


def test_annotators_see_no_scores_and_researchers_only_read(client, session):
    ps = make_ranked_set(session, prompts=2)
    cands = _candidates(session, ps)
    version = make_scored_version(
        session, ps, {c: (float(i), 0.1) for i, c in enumerate(sum(cands.values(), []))}
    )
    annotator, researcher = _auth(session, "annotator"), _auth(session, "researcher")
    reads = [
        f"/api/v1/prompt-sets/{ps.id}/reward-models",
        f"/api/v1/reward-models/{version.id}",
        f"/api/v1/prompt-sets/{ps.id}/scores",
    ]
    for url in reads:
        assert client.get(url, headers=annotator).status_code == 403, url
        assert client.get(url, headers=researcher).status_code == 200, url
    writes = [
        ("post", f"/api/v1/prompt-sets/{ps.id}/reward-models", {}),
        ("post", f"/api/v1/reward-models/{version.id}/activate", None),
        ("post", f"/api/v1/prompt-sets/{ps.id}/reward-models/score", None),
        ("put", f"/api/v1/prompt-sets/{ps.id}/routing", {"routing": "random"}),
        ("get", f"/admin/prompt-sets/{ps.id}/reward-model", None),
    ]
    for method, url, body in writes:
        for headers in (annotator, researcher):
            kwargs = {"json": body} if method != "get" else {}
            response = getattr(client, method)(url, headers=headers, **kwargs)
            assert response.status_code == 403, url
    scores = client.get(f"/api/v1/prompt-sets/{ps.id}/scores", headers=researcher).json()
    assert scores["version_id"] == version.id and scores["prompts"][0]["candidates"]
    page = client.get(f"/admin/prompt-sets/{ps.id}/reward-model", headers=_auth(session, "admin"))
    assert page.status_code == 200 and "data-scores" in page.text
    # The annotator's own task view carries no score.
    task = client.get(f"/api/v1/tasks/next?prompt_set={ps.id}", headers=annotator)
    assert task.status_code in (200, 204) and "score" not in task.text


def test_uncertain_first_hands_out_the_least_certain_prompt_first(session):
    ps = make_prompt_set(session, prompts=4, annotators_per_prompt=2)
    cands = _candidates(session, ps)
    prompt_ids = sorted(cands)
    gaps = {prompt_ids[0]: 6.0, prompt_ids[1]: 3.0, prompt_ids[2]: 0.05, prompt_ids[3]: 1.0}
    scores = {}
    for pid, gap in gaps.items():
        for rank, cid in enumerate(cands[pid]):
            scores[cid] = (-gap * rank, 0.01)
    make_scored_version(session, ps, scores)
    user = make_user(session)
    assert (
        assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=user).prompt_id
        == (prompt_ids[0])
    )  # in_order still: routing decides, scores alone change nothing
    service.set_routing(session, prompt_set_id=ps.id, data=RoutingIn(routing="uncertain_first"))
    order = [
        p
        for (p,) in session.execute(
            select(Prompt.id)
            .where(Prompt.prompt_set_id == ps.id)
            .order_by(Prompt.priority, Prompt.id)
        )
    ]
    assert order == [prompt_ids[2], prompt_ids[3], prompt_ids[1], prompt_ids[0]]
    other = make_user(session)
    task = assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=other)
    assert task.prompt_id == prompt_ids[2]
    # Routing back to in_order restores id order for new leases.
    service.set_routing(session, prompt_set_id=ps.id, data=RoutingIn(routing="in_order"))
    priorities = session.scalars(select(Prompt.priority).where(Prompt.prompt_set_id == ps.id))
    assert set(priorities) == {0}


def test_uncertain_first_takes_the_gap_spread_from_the_stored_per_head_scores(session):
    ps = make_prompt_set(session, prompts=2)
    cands = _candidates(session, ps)
    first, second = sorted(cands)
    # Both prompts: the top two 3 apart, each candidate's spread across the 2 heads 3 or
    # more. On `first` the heads agree on the gap (3 and 3): u = 1 - tanh(1.5) = 0.0949;
    # on `second` they do not (6 and 0, sd 3): u = 2 Phi(-1) = 0.3173, so it goes first.
    # (hypot of the per-candidate spreads put both at u = 1, tied, in id order.)
    heads = {first: ((6.0, 0.0), (3.0, -3.0)), second: ((6.0, 0.0), (0.0, 0.0))}
    scores = {}
    for pid, (top, runner) in heads.items():
        top_id, runner_id, *rest = cands[pid]
        scores[top_id] = Scored(3.0, float(np.std(top)), top)
        scores[runner_id] = Scored(0.0, float(np.std(runner)), runner)
        scores.update({cid: Scored(-20.0, 0.0, (-20.0, -20.0)) for cid in rest})
    version = make_scored_version(session, ps, scores)
    stored = session.get(CandidateScore, (version.id, cands[first][0]))
    assert stored is not None and stored.head_scores == [6.0, 0.0]
    service.set_routing(session, prompt_set_id=ps.id, data=RoutingIn(routing="uncertain_first"))
    rows = session.execute(select(Prompt.id, Prompt.priority).where(Prompt.prompt_set_id == ps.id))
    priority = {pid: p for pid, p in rows}
    assert priority[second] == 1 + round((1 - 0.3173105079) * 999_999)
    assert priority[first] == 1 + round((1 - 0.0948517464) * 999_999)


def test_random_routing_is_a_stable_shuffle(session):
    ps = make_prompt_set(session, prompts=12)
    service.set_routing(session, prompt_set_id=ps.id, data=RoutingIn(routing="random"))
    rows = session.execute(
        select(Prompt.id, Prompt.priority).where(Prompt.prompt_set_id == ps.id)
    ).all()
    by_priority = [pid for pid, _ in sorted(rows, key=lambda r: (r[1], r[0]))]
    assert all(p > 0 for _, p in rows) and by_priority != sorted(by_priority)
    # Stable across processes (another worker, a restart), not only within this one: the
    # priorities a fresh interpreter under another PYTHONHASHSEED computes are the stored ones.
    hashes = dict(
        session.execute(
            select(Prompt.id, Prompt.content_hash).where(Prompt.prompt_set_id == ps.id)
        ).all()
    )
    ids = sorted(hashes)
    elsewhere = calls_in_fresh_process(
        "app.reward.routing:random_priority", [(ps.id, hashes[i]) for i in ids], hash_seed=7
    )
    assert dict(zip(ids, elsewhere, strict=True)) == dict(rows)
    service.set_routing(session, prompt_set_id=ps.id, data=RoutingIn(routing="random"))
    again = session.execute(
        select(Prompt.id, Prompt.priority).where(Prompt.prompt_set_id == ps.id)
    ).all()
    assert dict(again) == dict(rows)  # choosing random again keeps the shuffle


def test_routing_rejects_an_unknown_order_with_422(client, session):
    ps = make_prompt_set(session, prompts=1)
    response = client.put(
        f"/api/v1/prompt-sets/{ps.id}/routing",
        json={"routing": "loudest_first"},
        headers=_auth(session, "admin"),
    )
    assert response.status_code == 422 and "routing" in response.text


OLD_TEST, NEW_TEST = 0.2, 0.5  # test fractions: the active version held out fewer prompts


def _new_test_pairs(session, ps):
    data = load_set_data(session, ps.id, test_fraction=NEW_TEST, validation_fraction=0.15)
    test = data.pairs.where(data.pairs.split == "test")
    hashes = {pid: h for pid, (h, _, _) in data.prompts.items()}
    common = {
        p for p in set(test.prompt_id.tolist()) if split_for(hashes[p], OLD_TEST, 0.15) == "test"
    }
    return test, common


def _scores(test, right_on: set[int]) -> dict[int, tuple[float, float]]:
    """Scores that order a test pair as the annotators did on the prompts in `right_on`
    and the other way elsewhere (both annotators agree on the on/off-topic pairs; the
    within-kind pairs they split are scored as a tie either way)."""
    scores: dict[int, tuple[float, float]] = {}
    for p, c, r, w in zip(test.prompt_id, test.chosen, test.rejected, test.weight, strict=True):
        sign = 1.0 if int(p) in right_on else -1.0
        scores.setdefault(int(c), (0.0, 0.0))
        scores.setdefault(int(r), (0.0, 0.0))
        if w == 1.0:
            scores[int(c)] = (scores[int(c)][0] + sign, 0.0)
            scores[int(r)] = (scores[int(r)][0] - sign, 0.0)
    return scores


def _finish(session, ps, scores, test, recorded: float):
    version = make_version(session, ps, status="running", options={"test_fraction": NEW_TEST})
    outcome = Outcome(
        metrics={"test": {"accuracy": recorded, "ci95": [recorded - 0.1, recorded]}},
        training_data={"annotations": 4},
        artifact_path="/nonexistent",
        scores=scores,
        test=test,
    )
    return service.finish_version(session, version_id=version.id, outcome=outcome)


def _active(session, ps, scores, recorded: float):
    return make_scored_version(
        session,
        ps,
        scores,
        metrics={"test": {"accuracy": recorded}},
        options={"kind": "fast", "backbone": "smollm2", "test_fraction": OLD_TEST},
    )


def test_the_comparison_uses_only_pairs_neither_version_trained_on(session):
    ps = make_ranked_set(session, prompts=40)
    test, common = _new_test_pairs(session, ps)
    only_new = set(test.prompt_id.tolist()) - common
    assert len(common) >= 3 and len(only_new) > len(common)
    # The active version is right where it trained (the new version's extra test
    # prompts) and wrong on its own held-out prompts; the new one the other way round.
    old = _active(session, ps, _scores(test, right_on=only_new), recorded=0.9)
    new = _finish(session, ps, _scores(test, right_on=common), test, recorded=0.7)
    session.refresh(old)
    # On all of the new test pairs the old one looks better; on the pairs neither
    # trained on it is wrong on the 4 on/off-topic pairs of each annotator and the new
    # one right, both tie the 2 pairs the annotators split: 5/6 against 1/6 on every
    # prompt, so the paired difference is 4/6 in every bootstrap draw.
    compared = new.metrics["compared_with_active"]
    assert compared["version"] == old.id and compared["prompts"] == len(common)
    assert compared["this_accuracy"] == 0.8333 and compared["its_accuracy"] == 0.1667
    assert compared["difference"] == 0.6667 and compared["ci95"] == [0.6667, 0.6667]
    assert new.is_active and not old.is_active


def test_a_new_version_worse_on_the_common_pairs_is_kept_inactive_with_its_paired_ci(session):
    ps = make_ranked_set(session, prompts=40)
    test, common = _new_test_pairs(session, ps)
    old = _active(session, ps, _scores(test, right_on=common), recorded=0.6)
    worse = _finish(session, ps, _scores(test, right_on=set()), test, recorded=0.9)
    session.refresh(old)
    assert worse.status == "done" and not worse.is_active and old.is_active
    # 1/6 against 5/6 on every common prompt (see the test above).
    assert worse.metrics["compared_with_active"]["ci95"] == [-0.6667, -0.6667]
    assert "held-out pairs neither version trained on" in worse.progress_message
    assert "difference -0.667, 95% CI [-0.6667, -0.6667]" in worse.progress_message
    assert service.score_count(session, worse.id) == 0


def test_a_lower_point_estimate_inside_the_paired_ci_still_activates(session):
    ps = make_ranked_set(session, prompts=40)
    test, common = _new_test_pairs(session, ps)
    one = min(common)
    old = _active(session, ps, _scores(test, right_on=common), recorded=0.9)
    new = _finish(session, ps, _scores(test, right_on=common - {one}), test, recorded=0.8)
    session.refresh(old)
    compared = new.metrics["compared_with_active"]
    assert compared["difference"] < 0 <= compared["ci95"][1]
    assert new.is_active and not old.is_active
    assert service.score_count(session, new.id) == len(_scores(test, common))


def test_without_common_pairs_the_new_version_is_activated_and_says_why(session):
    ps = make_ranked_set(session, prompts=2)
    old = make_scored_version(session, ps, {}, metrics={"test": {"accuracy": 0.9}})
    new = make_version(session, ps, status="running")
    outcome = Outcome(metrics={"test": {"accuracy": 0.7}}, training_data={}, artifact_path="/x")
    service.finish_version(session, version_id=new.id, outcome=outcome)
    session.refresh(old)
    assert new.is_active and not old.is_active
    assert new.metrics["compared_with_active"]["pairs"] == 0


def test_a_stale_running_version_fails_with_its_reason_and_the_active_one_stays(session):
    ps = make_ranked_set(session, prompts=1)
    active = make_scored_version(session, ps, {})
    stale = make_version(
        session,
        ps,
        status="running",
        worker_id="host:123:abc",
        heartbeat_at=utcnow() - dt.timedelta(minutes=5),
    )
    fresh = make_version(session, ps, status="running", heartbeat_at=utcnow())
    assert service.fail_stale_versions(session, stale_seconds=60) == [stale.id]
    session.refresh(stale), session.refresh(fresh), session.refresh(active)
    assert stale.status == "failed" and "host:123:abc stopped during training" in stale.error
    assert fresh.status == "running" and active.is_active


def test_retrain_every_queues_a_fast_version_after_enough_new_annotations(session):
    ps = make_ranked_set(session, prompts=5, retrain_every=4)
    make_version(session, ps, training_data={"annotations": 8})
    assert service.queue_due_retrains(session, min_comparisons=10) == []  # 10 - 8 < 4
    people = [make_user(session) for _ in range(2)]
    prompt = session.scalars(select(Prompt).where(Prompt.prompt_set_id == ps.id)).first()
    cids = _candidates(session, ps)[prompt.id]
    for person in people:
        make_annotation(session, prompt, person, [[c] for c in cids])
    session.commit()
    queued = service.queue_due_retrains(session, min_comparisons=10)
    assert len(queued) == 1
    version = session.get(RewardModel, queued[0])
    assert version.kind == "fast" and version.status == "queued"
    assert service.queue_due_retrains(session, min_comparisons=10) == []  # one at a time


def test_exports_carry_the_active_versions_scores_on_request(session):
    ps = make_ranked_set(session, prompts=2)
    cands = sum(_candidates(session, ps).values(), [])
    version = make_scored_version(session, ps, {c: (float(c), 0.0) for c in cands})
    raw = {"format": "pairs", "prompt_set": [ps.id], "scores": "true"}
    plan = export_service.parse_options(session, raw, secret_key="k" * 40, default_model="smollm2")
    rows = list(export_service.iter_rows(session, plan))
    assert rows and all(r["reward_model_id"] == version.id for r in rows)
    assert all(r["chosen_score"] == float(r["chosen_id"]) for r in rows)
    assert list(rows[0])[-3:] == ["chosen_score", "rejected_score", "reward_model_id"]
    plain = export_service.parse_options(
        session, {**raw, "scores": None}, secret_key="k" * 40, default_model="smollm2"
    )
    assert "chosen_score" not in next(iter(export_service.iter_rows(session, plain)))
    assert session.scalar(select(func.count()).select_from(CandidateScore)) == len(cands)


def _admin_form_client(client, session) -> str:
    """Logs the client in as an admin; returns a CSRF token for the admin forms."""
    admin = make_user(session, role="admin")
    assert login(client, admin.username, DEFAULT_PASSWORD).status_code == 303
    return csrf_from(client.get("/admin/prompt-sets").text)


def _reward_state(session, ps) -> tuple:
    """Everything a refused reward request could have touched."""
    session.expire_all()
    versions = session.execute(
        select(RewardModel.id, RewardModel.status, RewardModel.is_active).order_by(RewardModel.id)
    ).all()
    routing = session.execute(
        select(PromptSet.routing, PromptSet.retrain_every).where(PromptSet.id == ps.id)
    ).one()
    priorities = session.scalars(
        select(Prompt.priority).where(Prompt.prompt_set_id == ps.id).order_by(Prompt.id)
    ).all()
    scores = session.scalar(select(func.count()).select_from(CandidateScore))
    return tuple(versions), tuple(routing), tuple(priorities), scores


def test_an_archived_set_refuses_training_activation_scoring_and_routing(client, session):
    ps = make_ranked_set(session, prompts=5)
    cands = sum(_candidates(session, ps).values(), [])
    make_scored_version(session, ps, {c: (float(c), 0.0) for c in cands})
    spare = make_version(session, ps)  # done, not active
    ps.status = "archived"
    session.commit()
    admin = _auth(session, "admin")
    before = _reward_state(session, ps)
    api_calls = [
        ("post", f"/api/v1/prompt-sets/{ps.id}/reward-models", {}),
        ("post", f"/api/v1/reward-models/{spare.id}/activate", None),
        ("post", f"/api/v1/prompt-sets/{ps.id}/reward-models/score", None),
        ("put", f"/api/v1/prompt-sets/{ps.id}/routing", {"routing": "random"}),
    ]
    for method, url, body in api_calls:
        response = getattr(client, method)(url, headers=admin, json=body)
        assert response.status_code == 409, url
        assert "is archived and read-only" in response.json()["error"], url
    token = _admin_form_client(client, session)
    tab = f"/admin/prompt-sets/{ps.id}/reward-model"
    forms = [
        (f"{tab}/train", {"kind": "fast", "backbone": "smollm2"}),
        (f"{tab}/versions/{spare.id}/activate", {}),
        (f"{tab}/routing", {"routing": "random", "retrain_every": "0"}),
    ]
    for url, data in forms:
        response = client.post(url, data={"csrf_token": token, **data}, follow_redirects=False)
        assert response.status_code == 409, url
        assert "is archived and read-only" in response.text, url
    assert _reward_state(session, ps) == before


def test_the_tab_activates_only_a_version_of_its_own_set(client, session):
    mine, other = make_ranked_set(session, prompts=1), make_ranked_set(session, prompts=1)
    theirs = make_version(session, other)
    token = _admin_form_client(client, session)
    wrong = client.post(
        f"/admin/prompt-sets/{mine.id}/reward-model/versions/{theirs.id}/activate",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert wrong.status_code == 404
    assert f"not a version of prompt set {mine.id}" in wrong.text
    session.refresh(theirs)
    assert not theirs.is_active and service.score_count(session, theirs.id) == 0


def test_the_routing_form_shows_a_bad_value_and_changes_nothing(client, session):
    ps = make_prompt_set(session, prompts=3)
    token = _admin_form_client(client, session)
    before = _reward_state(session, ps)
    response = client.post(
        f"/admin/prompt-sets/{ps.id}/reward-model/routing",
        data={"csrf_token": token, "routing": "random", "retrain_every": "-3"},
    )
    assert response.status_code == 200
    assert "retrain_every: Input should be greater than or equal to 0" in response.text
    assert _reward_state(session, ps) == before


def test_admins_see_each_candidates_score_on_the_prompt_page_annotators_never(client, session):
    ps = make_prompt_set(session, prompts=1, candidates=3)
    prompt_id, cids = next(iter(_candidates(session, ps).items()))
    unscored = cids[-1]
    version = make_scored_version(session, ps, {cids[0]: (1.25, 0.5), cids[1]: (-0.75, 0.25)})
    admin = make_user(session, role="admin")
    annotator = make_user(session, role="annotator")

    assert login(client, admin.username, DEFAULT_PASSWORD).status_code == 303
    page = client.get(f"/admin/prompts/{prompt_id}")
    assert page.status_code == 200
    assert f'reward-model">#{version.id}</a> (active' in page.text
    assert f'<td data-score="{cids[0]}">1.25 ± 0.50</td>' in page.text
    assert f'<td data-score="{cids[1]}">-0.75 ± 0.25</td>' in page.text
    assert f'<td data-score="{unscored}">–</td>' in page.text
    client.post("/logout", data={"csrf_token": csrf_from(page.text)})

    assert login(client, annotator.username, DEFAULT_PASSWORD).status_code == 303
    assert client.get(f"/admin/prompts/{prompt_id}").status_code == 403
    item = client.get(f"/annotate/{ps.id}/item")
    assert item.status_code == 200 and 'name="shown_order"' in item.text  # the scored prompt
    for shown in (item.text, client.get(f"/annotate/{ps.id}").text):
        assert "data-score" not in shown and "1.25" not in shown and "-0.75" not in shown


def test_the_prompt_page_shows_no_score_column_without_an_active_version(client, session):
    ps = make_prompt_set(session, prompts=1, candidates=2)
    prompt_id = next(iter(_candidates(session, ps)))
    admin = make_user(session, role="admin")
    assert login(client, admin.username, DEFAULT_PASSWORD).status_code == 303
    page = client.get(f"/admin/prompts/{prompt_id}")
    assert page.status_code == 200 and "data-score" not in page.text
    assert "<th>Score</th>" not in page.text
