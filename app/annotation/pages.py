"""Annotator pages: the list of sets, the ranking screen, and its no-JavaScript form posts.

The JavaScript on the ranking screen talks to the JSON API (app.annotation.api); the form
routes here call the very same service functions, so both paths obey the same rules.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.deps import AnnotatorUser
from app.accounts.models import User
from app.annotation import assignment, standing, submission
from app.annotation.assignment import TaskView
from app.annotation.deps import SuggestDep
from app.annotation.models import FLAG_KINDS, MAX_RATIONALE_CHARS
from app.annotation.schemas import SubmissionIn
from app.annotation.submission import RATING_MAX, RATING_MIN, SubmissionInput
from app.annotation.suggestions import SuggestOrder
from app.core.csrf import verify_csrf_form
from app.core.db import SessionDep
from app.core.errors import AppError, Conflict, InvalidInput, NotAllowed, NotFound, error_body
from app.core.forms import PostedForm
from app.core.inputs import Id, form_int, form_number
from app.core.templating import flash, render
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import PromptSet

router = APIRouter(tags=["pages"])

FLAG_LABELS = {
    "unsafe": "Unsafe",
    "factually_wrong": "Factually wrong",
    "broken": "Broken / garbled",
    "refusal": "Refusal",
}
SKIP_REASONS = (
    "I don't know enough about this topic",
    "The prompt is unclear or broken",
    "Content I would rather not read",
)


def annotate_home_context(session: Session, user: User) -> dict[str, Any]:
    sets = session.scalars(
        select(PromptSet).where(PromptSet.status == "active").order_by(PromptSet.name)
    ).all()
    rows = []
    for s in sets:
        p = assignment.progress(session, prompt_set=s, annotator_id=user.id)
        rows.append(
            {
                "id": s.id,
                "name": s.name,
                "description": s.description,
                "done_today": p.done_today,
                "done_total": p.done_total,
                "remaining": p.remaining,
            }
        )
    return {"prompt_sets": rows}


def item_context(
    session: Session,
    user: User,
    prompt_set: PromptSet,
    task: TaskView | None,
    *,
    errors: list[dict[str, Any]] | None = None,
    form: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the ranking screen (and its reloadable item fragment) shows."""
    return {
        "prompt_set": {
            "id": prompt_set.id,
            "name": prompt_set.name,
            "guidelines": prompt_set.guidelines,
            "confirm_untouched_order": prompt_set.confirm_untouched_order,
        },
        "task": task,
        # Why there is no item, when the annotator is held back (failed, paused).
        "held": None if task else standing.hold_message(session, prompt_set, user.id),
        "progress": assignment.progress(session, prompt_set=prompt_set, annotator_id=user.id),
        "flag_kinds": [(k, FLAG_LABELS.get(k, k)) for k in FLAG_KINDS],
        "ratings": list(range(RATING_MIN, RATING_MAX + 1)),
        "max_rationale": MAX_RATIONALE_CHARS,
        "skip_reasons": SKIP_REASONS,
        "errors": errors or [],
        "form": form or {},
    }


def _next_item_context(
    session: Session, user: User, set_id: Id, suggest: SuggestOrder | None
) -> dict[str, Any]:
    try:
        task = assignment.lease_next_task(
            session, prompt_set_id=set_id, annotator=user, suggest=suggest
        )
    except standing.AnnotatorHeld:
        session.rollback()
        task = None  # item_context says why
    prompt_set = prompt_set_service.load_prompt_set(session, set_id)
    return item_context(session, user, prompt_set, task)


@router.get("/annotate", response_class=HTMLResponse)
def annotate_home(request: Request, session: SessionDep, user: AnnotatorUser) -> HTMLResponse:
    return render(request, "annotation/home.html", annotate_home_context(session, user))


@router.get("/annotate/{set_id}", response_class=HTMLResponse)
def rank_page(
    request: Request, set_id: Id, session: SessionDep, user: AnnotatorUser, suggest: SuggestDep
) -> HTMLResponse:
    """The ranking screen; opening it leases the next item (or shows the same live one)."""
    context = _next_item_context(session, user, set_id, suggest)
    return render(request, "annotation/rank.html", context)


@router.get("/annotate/{set_id}/item", response_class=HTMLResponse)
def rank_item_fragment(
    request: Request, set_id: Id, session: SessionDep, user: AnnotatorUser, suggest: SuggestDep
) -> HTMLResponse:
    """Just the item part of the screen: the page's script swaps it in after a skip."""
    context = _next_item_context(session, user, set_id, suggest)
    return render(request, "annotation/_item.html", context)


@router.post(
    "/annotate/{set_id}/item",
    response_class=HTMLResponse,
    response_model=None,
    dependencies=[Depends(verify_csrf_form)],
)
def submit_and_next_fragment(
    request: Request,
    set_id: int,
    body: SubmissionIn,
    session: SessionDep,
    user: AnnotatorUser,
    suggest: SuggestDep,
) -> Response:
    """The page script's submit: the JSON body of `POST /api/v1/annotations`, answered with
    the next item's fragment, leased in the same request (one round trip per item).

    Errors answer the API's JSON error shape, which the script shows next to the form.
    """
    try:
        _, task = submission.submit_and_next(
            session, annotator=user, data=body.to_input(), suggest=suggest
        )
    except AppError as exc:
        return JSONResponse(error_body(exc.message, exc.status, exc.errors), exc.status)
    prompt_set = prompt_set_service.load_prompt_set(session, set_id)
    return render(request, "annotation/_item.html", item_context(session, user, prompt_set, task))


def ranking_from_ranks(ranks: dict[int, str]) -> list[list[Any]]:
    """Form fields rank_<candidate id> = rank number; equal numbers are a tie.

    A blank or non-numeric rank leaves that candidate out, and the ranking rules then
    name it ("response B has no rank").
    """
    by_rank: dict[int, list[int]] = {}
    for cid, value in ranks.items():
        rank = form_int(value)
        if rank is not None:
            by_rank.setdefault(rank, []).append(cid)
    return [sorted(by_rank[r]) for r in sorted(by_rank)]


def _assignment_id(form: Any) -> int:
    """The form's hidden assignment id; a value that is no id is the caller's mistake."""
    raw = str(form.get("assignment_id") or "")
    value = form_int(raw)
    if value is None or value < 1:
        raise InvalidInput(
            "assignment_id: must be a whole number (the item's id); reload the page.",
            errors=[{"field": "assignment_id", "message": "must be a whole number"}],
        )
    return value


def submission_from_form(form: Any) -> tuple[SubmissionInput, dict[str, Any]]:
    ranks: dict[int, str] = {}
    flags: dict[str, list[str]] = {}
    ratings: dict[str, Any] = {}
    for key, value in form.multi_items():
        prefix, _, suffix = key.partition("_")
        candidate_id = form_int(suffix)
        if candidate_id is None or candidate_id < 1 or not isinstance(value, str):
            continue  # not one of the form's per-candidate fields
        if prefix == "rank":
            ranks[candidate_id] = value
        elif prefix == "flag":
            flags.setdefault(str(candidate_id), []).append(value)
        elif prefix == "rating" and value:
            rating = form_int(value)
            ratings[str(candidate_id)] = value if rating is None else rating
    ranking = ranking_from_ranks(ranks)
    data = SubmissionInput(
        assignment_id=_assignment_id(form),
        ranking=ranking,
        all_bad=form.get("all_bad") is not None,
        flags=flags,
        ratings=ratings,
        rationale=str(form.get("rationale") or ""),
        seconds_spent=form_number(str(form.get("seconds_spent") or "")),
        idempotency_key=str(form.get("idempotency_key") or "") or None,
        order_changed=_order_changed(ranking, str(form.get("shown_order") or "")),
    )
    kept = {"ranks": ranks, "flags": flags, "ratings": ratings, "rationale": data.rationale}
    kept["all_bad"] = data.all_bad
    kept["keep_order"] = form.get("keep_order") is not None
    return data, kept


def _order_changed(ranking: list[list[Any]], shown_order: str) -> bool | None:
    """Whether the form's ranks differ from the order shown; the form carries that order
    as `shown_order` (candidate ids, comma-separated). None: a form without it."""
    shown = [[int(part)] for part in shown_order.split(",") if part.strip().isdigit()]
    return ranking != shown if shown else None


class OrderNotConfirmed(InvalidInput):
    code = "order_not_confirmed"


def check_order_confirmed(prompt_set: PromptSet, data: SubmissionInput, kept: dict) -> None:
    """The no-JavaScript form's confirm: the untouched shown order is sent only with
    "submit the order as shown" ticked (the script asks in the page instead)."""
    untouched = data.order_changed is False
    if prompt_set.confirm_untouched_order and untouched and not kept["keep_order"]:
        message = (
            "You left the responses in the order shown. Rank them, or tick "
            "'Submit the order as shown' and submit again."
        )
        raise OrderNotConfirmed(message, errors=[{"field": "keep_order", "message": message}])


@router.post(
    "/annotate/{set_id}/submit",
    response_class=HTMLResponse,
    response_model=None,
    dependencies=[Depends(verify_csrf_form)],
)
def submit_form(
    request: Request, set_id: Id, session: SessionDep, user: AnnotatorUser, form: PostedForm
) -> Response:
    data, kept = submission_from_form(form)
    try:
        check_order_confirmed(prompt_set_service.load_prompt_set(session, set_id), data, kept)
        submission.submit_annotation(session, annotator=user, data=data)
    except InvalidInput as exc:
        session.rollback()
        try:
            return _rerender(request, session, user, set_id, data.assignment_id, exc, kept)
        except (Conflict, NotFound, NotAllowed) as gone:
            # The order confirm runs before the service's checks: the item may be gone.
            return _item_gone(request, session, set_id, gone)
    except (Conflict, NotFound, NotAllowed) as exc:
        return _item_gone(request, session, set_id, exc)
    flash(request, "Saved. Here is the next item.")
    return RedirectResponse(f"/annotate/{set_id}", status_code=303)


def _item_gone(request: Request, session: Session, set_id: int, exc: AppError) -> Response:
    """Lease expired, already submitted, not yours: this item is gone; say why and move
    on to the next one instead of showing a form that cannot succeed."""
    session.rollback()
    flash(request, exc.message, "error")
    return RedirectResponse(f"/annotate/{set_id}", status_code=303)


def _rerender(
    request: Request,
    session: Session,
    user: User,
    set_id: Id,
    assignment_id: Id,
    exc: AppError,
    kept: dict[str, Any],
) -> HTMLResponse:
    """Show the same item again with the problems listed and the user's input kept."""
    row = submission.load_own_assignment(session, assignment_id, user, live=True)
    prompt_set = prompt_set_service.load_prompt_set(session, set_id)
    task = assignment.task_view(session, row, prompt_set)
    errors = exc.errors or [{"field": None, "message": exc.message}]
    ctx = item_context(session, user, prompt_set, task, errors=errors, form=kept)
    ctx["error_message"] = exc.message
    return render(request, "annotation/rank.html", ctx, status_code=exc.status)


@router.post("/annotate/{set_id}/skip", dependencies=[Depends(verify_csrf_form)])
def skip_form(
    request: Request, set_id: Id, session: SessionDep, user: AnnotatorUser, form: PostedForm
) -> RedirectResponse:
    submission.skip_assignment(
        session,
        annotator=user,
        assignment_id=_assignment_id(form),
        reason=str(form.get("reason") or ""),
    )
    flash(request, "Skipped. Here is the next item.")
    return RedirectResponse(f"/annotate/{set_id}", status_code=303)
