"""JSON routes for annotators: lease the next item, submit a ranking, skip an item."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from app.accounts.deps import AnnotatorUser
from app.annotation import assignment, submission
from app.annotation.schemas import SkipIn, SubmissionIn
from app.core.db import SessionDep
from app.core.inputs import Id

router = APIRouter(prefix="/api/v1", tags=["annotation"])


@router.get("/tasks/next", responses={204: {"description": "nothing left for you in this set"}})
def next_task(prompt_set: Id, session: SessionDep, user: AnnotatorUser) -> Response:
    """Lease the next item of the set to the caller (the same item while a lease is live)."""
    task = assignment.lease_next_task(session, prompt_set_id=prompt_set, annotator=user)
    if task is None:
        return Response(status_code=204)
    return JSONResponse(task.as_json())


@router.post("/annotations", status_code=201)
def create_annotation(body: SubmissionIn, session: SessionDep, user: AnnotatorUser) -> Response:
    """Store a ranking; a retry with the same idempotency key answers 200 with the first result."""
    result = submission.submit_annotation(session, annotator=user, data=body.to_input())
    return JSONResponse(result.as_json(), status_code=201 if result.created else 200)


@router.post("/assignments/{assignment_id}/skip")
def skip(assignment_id: Id, body: SkipIn, session: SessionDep, user: AnnotatorUser) -> dict:
    row = submission.skip_assignment(
        session, annotator=user, assignment_id=assignment_id, reason=body.reason
    )
    return {"ok": True, "assignment_id": row.id, "status": row.status}
