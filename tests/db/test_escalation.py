"""More annotators where they disagree (issue 13): escalation in the submit, the seat
target in the claim, the adjudication queue and the adjudicated consensus export."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.analytics.loaders import load_progress
from app.annotation import adjudication, assignment, submission
from app.annotation.models import Adjudication, Annotation
from app.core.errors import Conflict, InvalidInput
from app.exports import service as export_service
from app.prompt_sets.models import Prompt, PromptSet
from tests.factories.accounts import DEFAULT_PASSWORD, make_token, make_user
from tests.factories.annotation import lease, submission_for
from tests.factories.prompt_sets import make_prompt_set
from tests.support.http import csrf_from, login

KEY = "k" * 48


def _rank(session: Session, ps: PromptSet, who: User, *, reverse: bool) -> int:
    """Lease the annotator's next item and rank its candidates by id (or reversed)."""
    task = lease(session, ps.id, who)
    ids = sorted(c.id for c in task.candidates)
    ranking = [[cid] for cid in (reversed(ids) if reverse else ids)]
    submission.submit_annotation(session, annotator=who, data=submission_for(task, ranking=ranking))
    return task.prompt_id


def _extra_seats(session: Session, prompt_id: int) -> int:
    session.expire_all()
    return session.get(Prompt, prompt_id).extra_seats  # type: ignore[union-attr]


def _next(session: Session, ps: PromptSet, who: User) -> assignment.TaskView | None:
    return assignment.lease_next_task(session, prompt_set_id=ps.id, annotator=who)


def _contested_to_k_max(session: Session, ps: PromptSet, users: list[User]) -> int:
    prompt_id = 0
    for i, who in enumerate(users):
        prompt_id = _rank(session, ps, who, reverse=i % 2 == 1)
    return prompt_id


def test_disagreement_adds_one_seat_at_a_time_up_to_k_max(session: Session) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=2, annotators_max=4)
    users = [make_user(session) for _ in range(5)]
    prompt_id = _rank(session, ps, users[0], reverse=False)
    assert _extra_seats(session, prompt_id) == 0  # one ranking: nothing to compare
    _rank(session, ps, users[1], reverse=True)
    assert _extra_seats(session, prompt_id) == 1  # k reached, contested: one more seat
    progress = assignment.progress(session, prompt_set=ps, annotator_id=users[2].id)
    assert progress.remaining == 1
    # Never twice: the two who ranked it get nothing, a third gets the new seat.
    assert _next(session, ps, users[0]) is None and _next(session, ps, users[1]) is None
    _rank(session, ps, users[2], reverse=False)
    assert _extra_seats(session, prompt_id) == 2
    _rank(session, ps, users[3], reverse=True)
    assert _extra_seats(session, prompt_id) == 2  # at k_max: no further seat
    assert _next(session, ps, users[4]) is None
    rows = session.scalars(select(Annotation.annotator_id).where(Annotation.prompt_id == prompt_id))
    assert sorted(rows) == sorted(u.id for u in users[:4])


def test_agreement_does_not_escalate(session: Session) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=2, annotators_max=4)
    users = [make_user(session) for _ in range(3)]
    prompt_id = _rank(session, ps, users[0], reverse=False)
    _rank(session, ps, users[1], reverse=False)
    assert _extra_seats(session, prompt_id) == 0
    assert _next(session, ps, users[2]) is None


def test_escalation_off_keeps_k(session: Session) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=2)
    users = [make_user(session) for _ in range(3)]
    prompt_id = _contested_to_k_max(session, ps, users[:2])
    assert _extra_seats(session, prompt_id) == 0
    assert _next(session, ps, users[2]) is None
    assert adjudication.queue(session, prompt_set_id=ps.id) == []


def test_lowering_k_max_clamps_the_seat_targets(client: TestClient, session: Session) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=2, annotators_max=4)
    prompt_id = _contested_to_k_max(session, ps, [make_user(session) for _ in range(2)])
    assert _extra_seats(session, prompt_id) == 1
    headers = {"Authorization": f"Bearer {make_token(session, make_user(session, role='admin'))}"}
    response = client.patch(
        f"/api/v1/prompt-sets/{ps.id}", json={"annotators_max": None}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["annotators_max"] is None
    assert _extra_seats(session, prompt_id) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"annotators_per_prompt": 3, "annotators_max": 2}, "annotators_max"),
        ({"annotators_max": 101}, "annotators_max"),
        ({"escalate_below_tau": 1.5}, "escalate_below_tau"),
        ({"escalate_below_tau": -2}, "escalate_below_tau"),
        ({"escalate_on_split_top": "yes"}, "escalate_on_split_top"),
    ],
)
def test_bad_escalation_settings_are_422_naming_the_field(
    client: TestClient, session: Session, change: dict, field: str
) -> None:
    ps = make_prompt_set(session, prompts=0, annotators_per_prompt=3, annotators_max=5)
    headers = {"Authorization": f"Bearer {make_token(session, make_user(session, role='admin'))}"}
    created = client.post("/api/v1/prompt-sets", json={"name": "new", **change}, headers=headers)
    patched = client.patch(f"/api/v1/prompt-sets/{ps.id}", json=change, headers=headers)
    for response in (created, patched):
        assert response.status_code == 422, response.text
        assert field in [e["field"] for e in response.json()["errors"]]
    session.expire_all()
    assert session.get(PromptSet, ps.id).annotators_max == 5  # type: ignore[union-attr]
    assert session.scalar(select(func.count()).select_from(PromptSet)) == 1


def test_raising_k_above_k_max_is_refused(client: TestClient, session: Session) -> None:
    ps = make_prompt_set(session, prompts=0, annotators_per_prompt=3, annotators_max=4)
    headers = {"Authorization": f"Bearer {make_token(session, make_user(session, role='admin'))}"}
    response = client.patch(
        f"/api/v1/prompt-sets/{ps.id}", json={"annotators_per_prompt": 5}, headers=headers
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["annotators_max"]


def test_the_queue_holds_contested_prompts_at_k_max_until_adjudicated(session: Session) -> None:
    ps = make_prompt_set(session, prompts=2, annotators_per_prompt=2, annotators_max=3)
    users = [make_user(session) for _ in range(3)]
    admin = make_user(session, role="admin")
    # Prompt 1 (the claim's first) is contested by all three; prompt 2 is agreed by two.
    contested = _contested_to_k_max(session, ps, users)
    agreed = _rank(session, ps, users[0], reverse=False)
    _rank(session, ps, users[1], reverse=False)
    assert contested != agreed and _extra_seats(session, agreed) == 0
    queued = adjudication.queue(session, prompt_set_id=ps.id)
    assert [q.prompt_id for q in queued] == [contested]
    assert queued[0].disagreement.rankings == 3
    shown = adjudication.item(session, prompt_set_id=ps.id, prompt_id=contested)
    assert len(shown.rankings) == 3 and all(r.startswith("annotator ") for r in shown.rankings)
    assert all(u.username not in " ".join(shown.rankings) for u in users)  # anonymised
    with pytest.raises(Conflict):  # not contested: not adjudicable
        adjudication.adjudicate(
            session, prompt_set_id=ps.id, prompt_id=agreed, adjudicator=admin, ranking=[]
        )
    ids = sorted(c.id for c in shown.candidates)
    with pytest.raises(InvalidInput):
        adjudication.adjudicate(
            session,
            prompt_set_id=ps.id,
            prompt_id=contested,
            adjudicator=admin,
            ranking=[[ids[0]], [ids[0]]],
        )
    assert session.scalar(select(func.count()).select_from(Adjudication)) == 0
    adjudication.adjudicate(
        session,
        prompt_set_id=ps.id,
        prompt_id=contested,
        adjudicator=admin,
        ranking=[[ids[3]], [ids[1], ids[2]], [ids[0]]],
        note="B reads best",
    )
    assert adjudication.queue(session, prompt_set_id=ps.id) == []
    # Adjudication is not an annotation: no seat, no annotator.
    assert session.scalar(select(func.count()).select_from(Annotation)) == 5
    with pytest.raises(Conflict):
        adjudication.adjudicate(
            session, prompt_set_id=ps.id, prompt_id=contested, adjudicator=admin, ranking=[]
        )


def _consensus(session: Session, ps: PromptSet, **raw: object) -> list[dict]:
    plan = export_service.parse_options(
        session,
        {"format": "consensus", "prompt_set": [ps.id], **raw},
        secret_key=KEY,
        default_model="smollm2",
    )
    return list(export_service.iter_rows(session, plan))


def test_the_adjudicated_ranking_wins_in_the_consensus_export(session: Session) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=2, annotators_max=3)
    users = [make_user(session) for _ in range(3)]
    # Ascending, descending, ascending: the vote says lower id wins every pair (2 of 3).
    prompt_id = _contested_to_k_max(session, ps, users)
    ids = sorted(prompt.id for prompt in session.scalars(select(Prompt)))
    assert ids == [prompt_id]
    before = _consensus(session, ps)
    assert len(before) == 6 and not any(r["adjudicated"] for r in before)
    assert all(r["chosen_id"] < r["rejected_id"] for r in before)
    shown = adjudication.item(session, prompt_set_id=ps.id, prompt_id=prompt_id)
    c = sorted(v.id for v in shown.candidates)
    settled = [[c[3]], [c[2]], [c[0], c[1]]]
    adjudication.adjudicate(
        session,
        prompt_set_id=ps.id,
        prompt_id=prompt_id,
        adjudicator=make_user(session, role="admin"),
        ranking=settled,
    )
    after = _consensus(session, ps, min_agreement=0.9)
    pairs = {(r["chosen_id"], r["rejected_id"]) for r in after}
    # Highest id first now; the tie between c0 and c1 has no winner and is left out.
    assert pairs == {(c[3], c[2]), (c[3], c[0]), (c[3], c[1]), (c[2], c[0]), (c[2], c[1])}
    assert all(r["adjudicated"] and not r["majority"] for r in after)
    assert {r["votes_chosen"] for r in after} == {1}  # the annotators' votes still reported
    with_ties = _consensus(session, ps, include_no_majority="true")
    assert len(with_ties) == 6


def test_experts_and_admins_reach_the_queue_annotators_do_not(
    client: TestClient, session: Session
) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=2, annotators_max=2)
    annotator = make_user(session)
    assert login(client, annotator.username, DEFAULT_PASSWORD).status_code == 303
    path = f"/admin/prompt-sets/{ps.id}/adjudication"
    assert client.get(path).status_code == 403
    admin = make_user(session, role="admin")
    admin_headers = {"Authorization": f"Bearer {make_token(session, admin)}"}
    marked = client.post(
        f"/api/v1/users/{annotator.id}/expert", json={"is_expert": True}, headers=admin_headers
    )
    assert marked.status_code == 200 and marked.json()["is_expert"] is True
    page = client.get(path)
    assert page.status_code == 200 and "Escalation is off" in page.text
    assert path in client.get("/annotate").text  # experts find the queue from their home
    bad = client.post(
        f"/api/v1/users/{annotator.id}/expert", json={"is_expert": "yes"}, headers=admin_headers
    )
    assert bad.status_code == 422


def test_the_adjudication_form_rejects_bad_ranks_and_settles_good_ones(
    client: TestClient, session: Session
) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=2, annotators_max=3)
    prompt_id = _contested_to_k_max(session, ps, [make_user(session) for _ in range(3)])
    admin = make_user(session, role="admin")
    assert login(client, admin.username, DEFAULT_PASSWORD).status_code == 303
    dashboard = client.get(f"/admin/prompt-sets/{ps.id}")
    assert "Adjudication (1)" in dashboard.text
    path = f"/admin/prompt-sets/{ps.id}/adjudication/{prompt_id}"
    page = client.get(path)
    assert page.status_code == 200
    ids = sorted(
        c.id
        for c in adjudication.item(session, prompt_set_id=ps.id, prompt_id=prompt_id).candidates
    )
    form = {"csrf_token": csrf_from(page.text), "note": "tie of the two best"}
    bad = client.post(path, data={**form, **{f"rank_{cid}": "9" for cid in ids}})
    assert bad.status_code == 422 and "must be a number from 1 to 4" in bad.text
    assert session.scalar(select(func.count()).select_from(Adjudication)) == 0
    ranks = {f"rank_{cid}": str(r) for cid, r in zip(ids, (1, 1, 2, 3), strict=True)}
    done = client.post(path, data={**form, **ranks}, follow_redirects=False)
    assert done.status_code == 303
    stored = session.scalars(select(Adjudication)).one()
    assert stored.ranking == [[ids[0], ids[1]], [ids[2]], [ids[3]]]
    assert stored.adjudicator_id == admin.id and stored.note == "tie of the two best"
    assert "Nothing to adjudicate" in client.get(f"/admin/prompt-sets/{ps.id}/adjudication").text


def test_the_settings_form_edits_k_max_and_the_rule(client: TestClient, session: Session) -> None:
    ps = make_prompt_set(session, prompts=0, annotators_per_prompt=3)
    admin = make_user(session, role="admin")
    assert login(client, admin.username, DEFAULT_PASSWORD).status_code == 303
    page = client.get(f"/admin/prompt-sets/{ps.id}/edit")
    form = {
        "csrf_token": csrf_from(page.text),
        "name": ps.name,
        "candidates_per_prompt": "4",
        "annotators_per_prompt": "3",
        "lease_seconds": "1800",
        "backend": "transformers",
        "model": "smollm2",
        "temperature": "0.8",
        "top_p": "0.95",
        "max_new_tokens": "256",
        "escalate_below_tau": "0.3",
    }
    path = f"/admin/prompt-sets/{ps.id}/edit"
    bad = client.post(path, data={**form, "annotators_max": "2"})
    assert bad.status_code == 422 and "annotators_max 2 is below" in bad.text
    out_of_range = client.post(
        path, data={**form, "annotators_max": "5", "escalate_below_tau": "3"}
    )
    assert out_of_range.status_code == 422
    session.expire_all()
    assert session.get(PromptSet, ps.id).annotators_max is None  # type: ignore[union-attr]
    saved = client.post(path, data={**form, "annotators_max": "5", "escalate_on_split_top": "on"})
    assert saved.status_code == 200, saved.text
    session.expire_all()
    stored = session.get(PromptSet, ps.id)
    assert stored is not None
    assert (stored.annotators_max, stored.escalate_below_tau, stored.escalate_on_split_top) == (
        5,
        0.3,
        True,
    )
    cleared = client.post(path, data={**form, "annotators_max": ""})
    assert cleared.status_code == 200
    session.expire_all()
    assert session.get(PromptSet, ps.id).annotators_max is None  # type: ignore[union-attr]


def test_dashboard_counts_an_escalated_prompt_complete_only_at_its_target(
    session: Session,
) -> None:
    ps = make_prompt_set(session, prompts=1, annotators_per_prompt=2, annotators_max=3)
    users = [make_user(session) for _ in range(3)]
    prompt_id = _contested_to_k_max(session, ps, users[:2])
    assert _extra_seats(session, prompt_id) == 1  # k rankings in, one more seat open
    progress = load_progress(session, ps.id, ps.annotators_per_prompt)
    assert (progress.items_complete, progress.annotations_needed) == (0, 3)
    _rank(session, ps, users[2], reverse=False)
    progress = load_progress(session, ps.id, ps.annotators_per_prompt)
    assert (progress.items_complete, progress.annotations_needed) == (1, 3)
