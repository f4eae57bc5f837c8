"""JSON routes for annotators: lease the next item, submit a ranking, skip an item."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from app.accounts.deps import AnnotatorUser
from app.annotation import assignment, standing, submission
from app.annotation.deps import SuggestDep
from app.annotation.schemas import SkipIn, SubmissionIn
from app.core.db import SessionDep
from app.core.inputs import Id
from app.prompt_sets import service as prompt_set_service

router = APIRouter(prefix="/api/v1", tags=["annotation"])


@router.get("/tasks/next", responses={204: {"description": "nothing left for you in this set"}})
def next_task(
    prompt_set: Id, session: SessionDep, user: AnnotatorUser, suggest: SuggestDep
) -> Response:
    """Lease the next item of the set to the caller (the same item while a lease is live).

    403 `annotator_held` says why a caller gets no items in the set: they did not pass its
    qualification round ("3 of 5 gold items agreed, 80% needed"), or are paused in it.
    `suggested_order`: candidate ids, best first, when an LLM judge of the set suggests a
    starting order (opt-in); the submit then records `suggestion_shown` on the annotation.
    """
    task = assignment.lease_next_task(
        session, prompt_set_id=prompt_set, annotator=user, suggest=suggest
    )
    if task is None:
        return Response(status_code=204)
    return JSONResponse(task.as_json())


@router.post("/annotations", status_code=201)
def create_annotation(
    body: SubmissionIn,
    session: SessionDep,
    user: AnnotatorUser,
    suggest: SuggestDep,
    with_next: bool = Query(False, alias="next"),
) -> Response:
    """Store a ranking; a retry with the same idempotency key answers 200 with the first result.

    With `?next=1` the same request also leases the caller's next item of the set and
    answers `{"annotation": ..., "next": task}`; `next` is left out when nothing is left.
    A retry gets the same next item back (the live lease), never a second one. When the
    caller may have no more items (this gold answer failed or paused them), `held` says why.
    """
    if not with_next:
        result = submission.submit_annotation(session, annotator=user, data=body.to_input())
        return JSONResponse(result.as_json(), status_code=201 if result.created else 200)
    result, task = submission.submit_and_next(
        session, annotator=user, data=body.to_input(), suggest=suggest
    )
    out: dict = {"annotation": result.as_json()}
    if task is not None:
        out["next"] = task.as_json()
    elif result.prompt_set_id is not None:
        prompt_set = prompt_set_service.load_prompt_set(session, result.prompt_set_id)
        if (held := standing.hold_message(session, prompt_set, user.id)) is not None:
            out["held"] = held
    return JSONResponse(out, status_code=201 if result.created else 200)


@router.post("/assignments/{assignment_id}/skip")
def skip(assignment_id: Id, body: SkipIn, session: SessionDep, user: AnnotatorUser) -> dict:
    row = submission.skip_assignment(
        session, annotator=user, assignment_id=assignment_id, reason=body.reason
    )
    return {"ok": True, "assignment_id": row.id, "status": row.status}
