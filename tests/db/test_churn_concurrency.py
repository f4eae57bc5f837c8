"""16 annotators over real HTTP on PostgreSQL while an admin deactivates people and
deletes prompts (issue 20, "Done when"): every acknowledged annotation is exported, and
no request answers 5xx."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.annotation.models import Annotation, Assignment
from app.core.db import make_engine
from app.prompt_sets.models import Prompt, PromptSet
from tests.factories.accounts import make_token, make_user
from tests.factories.prompt_sets import make_prompt_set
from tests.support.crowd import all_at_once, annotators, next_item
from tests.support.server import ranklab_env, start_server

ANNOTATORS = 16
PROMPTS = 30
K = 3
DEACTIVATED = 4  # of the 16, one after another while they work
DELETED = 6  # prompts, with or without annotations (deleted, or archived)
# A deactivated annotator's token stops working: 401 (or 403); a deleted prompt's lease
# is gone (404), a released one is closed (409). Anything else 4xx is a bug here too.
REFUSED = (401, 403)
EXPECTED = (404, 409)


def _all_seats_filled(engine: Engine, set_id: int) -> Callable[[], bool]:
    """Every active prompt of the set has its target of submitted annotations."""
    submitted = (
        select(func.count())
        .where(Assignment.prompt_id == Prompt.id, Assignment.status == "submitted")
        .scalar_subquery()
    )
    short = (
        select(func.count())
        .select_from(Prompt)
        .join(PromptSet, PromptSet.id == Prompt.prompt_set_id)
        .where(
            Prompt.prompt_set_id == set_id,
            Prompt.status == "active",
            submitted < PromptSet.annotators_per_prompt + Prompt.extra_seats,
        )
    )

    def done() -> bool:
        with engine.connect() as conn:
            return conn.scalar(short) == 0

    return done


class Record:
    """What the server answered, from every thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acknowledged: set[int] = set()
        self.server_errors: list[str] = []
        self.statuses: dict[int, int] = {}

    def saw(self, response: httpx.Response) -> httpx.Response:
        with self.lock:
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                self.server_errors.append(f"{response.request.url}: {response.text[:300]}")
        return response


def _annotate(
    base_url: str,
    who: tuple[int, str],
    set_id: int,
    index: int,
    done: Callable[[], bool],
    engine: Engine,
    record: Record,
) -> list[int]:
    """One annotator: next, then submit (every other one with ?next=1) until the crowd is
    done or they are deactivated."""
    annotator_id, token = who
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        item = None
        for step in range(PROMPTS + 5):
            if item is None:
                item = next_item(
                    client, set_id, done, engine=engine, annotator_id=annotator_id, refused=REFUSED
                )
            if item is None:
                return []
            body = {
                "assignment_id": item["assignment_id"],
                "ranking": [[c["id"]] for c in item["candidates"]],
                "idempotency_key": f"{index}-{step}",
            }
            with_next = step % 2 == 1
            url = "/api/v1/annotations?next=1" if with_next else "/api/v1/annotations"
            response = record.saw(client.post(url, json=body))
            item = None
            if response.status_code in REFUSED:
                return []
            if response.status_code in EXPECTED:
                continue
            assert response.status_code == 201, response.text
            out = response.json()
            annotation = out["annotation"] if with_next else out
            with record.lock:
                record.acknowledged.add(annotation["annotation_id"])
            item = out.get("next") if with_next else None
    raise AssertionError("annotator never ran out of work")


def _admin(
    base_url: str,
    token: str,
    people: list[int],
    prompts: list[int],
    record: Record,
) -> None:
    """Deactivate people and delete prompts, one every 50 ms from the crowd's start."""
    headers = {"Authorization": f"Bearer {token}"}
    actions: list[tuple[str, str, dict | None]] = []
    for i in range(max(len(people), len(prompts))):
        if i < len(prompts):
            actions.append(("DELETE", f"/api/v1/prompts/{prompts[i]}", None))
        if i < len(people):
            actions.append(("POST", f"/api/v1/users/{people[i]}/active", {"is_active": False}))
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        for method, url, body in actions:
            time.sleep(0.05)
            response = record.saw(client.request(method, url, json=body))
            assert response.status_code == 200, response.text


def test_16_annotators_while_an_admin_deactivates_people_and_deletes_prompts(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    engine = make_engine(fresh_postgres_url)
    with Session(engine, expire_on_commit=False) as session:
        ps = make_prompt_set(session, prompts=PROMPTS, annotators_per_prompt=K)
        crowd = annotators(session, ANNOTATORS)
        admin_token = make_token(session, make_user(session, role="admin"))
        researcher_token = make_token(session, make_user(session, role="researcher"))
        prompt_ids = sorted(session.scalars(select(Prompt.id).where(Prompt.prompt_set_id == ps.id)))
    # Prompts that are being worked on at once: the first ones in hand-out order.
    doomed = prompt_ids[:DELETED]
    leaving = [crowd[i][0] for i in range(0, ANNOTATORS, ANNOTATORS // DEACTIVATED)]
    server = start_server(ranklab_env(tmp_path / "data", fresh_postgres_url), tmp_path / "log")
    record = Record()
    started = time.monotonic()
    try:
        done = _all_seats_filled(engine, ps.id)
        admin = threading.Thread(
            target=_admin, args=(server.base_url, admin_token, leaving, doomed, record)
        )
        admin.start()
        try:
            all_at_once(
                ANNOTATORS,
                lambda i: _annotate(server.base_url, crowd[i], ps.id, i, done, engine, record),
            )
        finally:
            admin.join()
        elapsed = time.monotonic() - started
        headers = {"Authorization": f"Bearer {researcher_token}"}
        export = httpx.get(
            f"{server.base_url}/api/v1/exports/rankings?prompt_set={ps.id}",
            headers=headers,
            timeout=60,
        )
    finally:
        server.stop()
    assert record.server_errors == []
    assert export.status_code == 200, export.text
    exported = {json.loads(line)["annotation_id"] for line in export.text.splitlines()}
    assert record.acknowledged <= exported  # nothing acknowledged was lost
    with Session(engine) as session:
        stored = set(session.scalars(select(Annotation.id)))
        assert record.acknowledged == stored  # and nothing unacknowledged was stored
        removed = select(func.count()).where(Prompt.id.in_(doomed), Prompt.status == "active")
        assert session.scalar(removed) == 0
        leased = select(func.count()).where(Assignment.status == "leased")
        assert session.scalar(leased) == 0
    print(f"churn: {len(stored)} annotations in {elapsed:.1f}s, statuses {record.statuses}")
    engine.dispose()
