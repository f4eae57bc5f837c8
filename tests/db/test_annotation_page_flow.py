"""The ranking page's two ways to submit (TestClient, both backends): the script's one
request that answers the next item, and the plain form with its untouched-order confirm."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.annotation.models import Annotation, Assignment
from tests.factories.accounts import DEFAULT_PASSWORD, make_user
from tests.factories.annotation import row_counts
from tests.factories.prompt_sets import make_prompt_set
from tests.support.http import csrf_from, login

ITEM = re.compile(r'data-assignment="(\d+)"')
SHOWN = re.compile(r'name="shown_order" value="([\d,]+)"')


def _open(client: TestClient, session: Session, **set_fields) -> tuple[int, str, str]:
    """A logged-in annotator on a fresh set's page: (set id, CSRF token, page HTML)."""
    ps = make_prompt_set(session, **set_fields)
    user = make_user(session)
    login(client, user.username, DEFAULT_PASSWORD)
    page = client.get(f"/annotate/{ps.id}")
    assert page.status_code == 200
    return ps.id, csrf_from(page.text), page.text


def _form_post(token: str, html: str, ranks: list[int]) -> dict[str, str]:
    """The plain form of the item in `html` with these rank numbers, in the shown order."""
    shown = _shown(html)
    return {
        "csrf_token": token,
        "assignment_id": ITEM.search(html).group(1),
        "shown_order": ",".join(map(str, shown)),
        **{f"rank_{cid}": str(rank) for cid, rank in zip(shown, ranks, strict=True)},
    }


def _shown(html: str) -> list[int]:
    match = SHOWN.search(html)
    assert match, "the item has no shown_order"
    return [int(x) for x in match.group(1).split(",")]


def test_page_submit_stores_and_answers_the_next_items_html_in_one_request(
    client: TestClient, session: Session
) -> None:
    set_id, token, html = _open(client, session, prompts=2, annotators_per_prompt=1)
    first = int(ITEM.search(html).group(1))
    shown = _shown(html)
    body = {
        "assignment_id": first,
        "ranking": [[shown[2]], [shown[0], shown[1]], [shown[3]]],
        "order_changed": True,
        "idempotency_key": "page-1",
    }
    headers = {"X-CSRF-Token": token, "Accept": "text/html"}
    bad = client.post(
        f"/annotate/{set_id}/item", json={**body, "ranking": [[shown[0]]]}, headers=headers
    )
    counts = row_counts(session)
    assert bad.status_code == 422
    assert "has no rank" in bad.json()["error"] and bad.json()["errors"]
    assert row_counts(session) == counts

    saved = client.post(f"/annotate/{set_id}/item", json=body, headers=headers)
    assert saved.status_code == 200 and saved.headers["content-type"].startswith("text/html")
    second = int(ITEM.search(saved.text).group(1))
    assert second != first and "Done today: <strong>1</strong>" in saved.text
    stored = session.scalars(select(Annotation)).one()
    assert stored.order_changed is True and stored.ranking[0] == [shown[2]]
    # The lease of the next item was written in the same request: it is the live one.
    live = session.scalars(select(Assignment).where(Assignment.status == "leased")).one()
    assert live.id == second

    retried = client.post(f"/annotate/{set_id}/item", json=body, headers=headers)
    assert int(ITEM.search(retried.text).group(1)) == second  # the same next item
    last = {**body, "assignment_id": second, "idempotency_key": "page-2"}
    last["ranking"] = [[c] for c in _shown(saved.text)]
    done = client.post(f"/annotate/{set_id}/item", json=last, headers=headers)
    assert done.status_code == 200 and "Nothing left to annotate" in done.text
    no_csrf = client.post(f"/annotate/{set_id}/item", json=last)
    assert no_csrf.status_code == 403


def test_api_stores_order_changed_as_sent(client: TestClient, session: Session) -> None:
    set_id, token, html = _open(client, session, prompts=3, annotators_per_prompt=1)
    headers = {"X-CSRF-Token": token}
    values = [False, None, True]
    item = {"assignment_id": int(ITEM.search(html).group(1)), "shown": _shown(html)}
    for i, value in enumerate(values):
        body = {
            "assignment_id": item["assignment_id"],
            "ranking": [[c] for c in item["shown"]],
            "order_changed": value,
        }
        out = client.post("/api/v1/annotations?next=1", json=body, headers=headers).json()
        if i < 2:
            nxt = out["next"]
            item = {
                "assignment_id": nxt["assignment_id"],
                "shown": [c["id"] for c in nxt["candidates"]],
            }
        else:
            assert "next" not in out
    stored = session.scalars(select(Annotation.order_changed).order_by(Annotation.id)).all()
    assert stored == values


def test_plain_form_asks_before_submitting_the_order_as_shown(
    client: TestClient, session: Session
) -> None:
    set_id, token, html = _open(client, session, prompts=3, annotators_per_prompt=1)
    form = _form_post(token, html, [1, 2, 3, 4])
    counts = row_counts(session)
    untouched = client.post(f"/annotate/{set_id}/submit", data=form)
    assert untouched.status_code == 422
    assert "in the order shown" in untouched.text and 'name="keep_order"' in untouched.text
    assert row_counts(session) == counts
    kept = client.post(
        f"/annotate/{set_id}/submit", data={**form, "keep_order": "1"}, follow_redirects=False
    )
    assert kept.status_code == 303
    form = _form_post(token, client.get(f"/annotate/{set_id}").text, [4, 3, 2, 1])
    changed = client.post(f"/annotate/{set_id}/submit", data=form, follow_redirects=False)
    assert changed.status_code == 303
    stored = session.scalars(select(Annotation.order_changed).order_by(Annotation.id)).all()
    assert stored == [False, True]


def test_a_set_can_turn_the_untouched_order_confirm_off(
    client: TestClient, session: Session
) -> None:
    set_id, token, html = _open(
        client, session, prompts=1, annotators_per_prompt=1, confirm_untouched_order=False
    )
    assert 'data-confirm-untouched="0"' in html
    form = _form_post(token, html, [1, 2, 3, 4])
    sent = client.post(f"/annotate/{set_id}/submit", data=form, follow_redirects=False)
    assert sent.status_code == 303
    assert session.scalars(select(Annotation.order_changed)).one() is False
