"""Admin pages for webhook endpoints: the list with a form to add one, and each endpoint's
page (edit, remove, recent deliveries). Forms carry CSRF tokens and follow
Post/Redirect/Get; a refused form is shown again with the errors next to the fields."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from app.accounts import sessions
from app.accounts.deps import AdminUser
from app.admin import webhooks
from app.core.csrf import verify_csrf_form
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.forms import PostedForm
from app.core.inputs import Id
from app.core.templating import flash, render
from app.core.webhooks.events import DESCRIPTIONS, EVENTS

router = APIRouter(tags=["pages"])
CSRF = [Depends(verify_csrf_form)]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _input(form: FormData) -> webhooks.EndpointInput:
    return webhooks.EndpointInput(
        url=str(form.get("url") or "").strip(),
        events=[str(e) for e in form.getlist("events")],
        description=str(form.get("description") or "").strip(),
        is_active=form.get("is_active") == "on",
    )


def _errors(exc: AppError) -> dict[str, str]:
    return {e.get("field") or "form": e["message"] for e in exc.errors} or {"form": exc.message}


def _values(data: webhooks.EndpointInput | None) -> dict[str, Any]:
    if data is None:
        return {"url": "", "events": [], "description": "", "is_active": True}
    return {
        "url": data.url,
        "events": list(data.events),
        "description": data.description,
        "is_active": data.is_active,
    }


def list_context(
    session: Session,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> dict:
    return {
        "endpoints": webhooks.list_endpoints(session),
        "events": [(name, DESCRIPTIONS[name]) for name in EVENTS],
        "values": values or _values(None),
        "errors": errors or {},
    }


@router.get("/admin/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request, session: SessionDep, admin: AdminUser) -> HTMLResponse:
    return render(request, "webhooks/list.html", list_context(session))


@router.post("/admin/webhooks", dependencies=CSRF)
def create_webhook(
    request: Request, session: SessionDep, admin: AdminUser, form: PostedForm
) -> Response:
    data = _input(form)
    try:
        endpoint, _ = webhooks.create_endpoint(
            session, data, show_to_browser_session=request.state.browser_session_id
        )
    except AppError as exc:
        session.rollback()
        context = list_context(session, _values(data), _errors(exc))
        return render(request, "webhooks/list.html", context, status_code=422)
    return _see_other(f"/admin/webhooks/{endpoint.id}")


def endpoint_context(
    session: Session,
    endpoint_id: int,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    secrets: list[sessions.ShownSecret] | None = None,
) -> dict:
    endpoint = webhooks.load_endpoint(session, endpoint_id)
    current = webhooks.EndpointInput(
        endpoint.url, list(endpoint.events), endpoint.description, endpoint.is_active
    )
    return {
        "endpoint": endpoint,
        "deliveries": webhooks.recent_deliveries(session, endpoint_id),
        "events": [(name, DESCRIPTIONS[name]) for name in EVENTS],
        "values": values or _values(current),
        "errors": errors or {},
        "secrets": secrets or [],
    }


@router.get("/admin/webhooks/{endpoint_id}", response_class=HTMLResponse)
def webhook_page(
    endpoint_id: Id, request: Request, session: SessionDep, admin: AdminUser
) -> HTMLResponse:
    webhooks.load_endpoint(session, endpoint_id)  # 404 before the secret is taken
    shown = sessions.take_shown_once(session, browser_session_id=request.state.browser_session_id)
    context = endpoint_context(session, endpoint_id, secrets=shown)
    return render(request, "webhooks/endpoint.html", context)


@router.post("/admin/webhooks/{endpoint_id}", dependencies=CSRF)
def update_webhook(
    endpoint_id: Id, request: Request, session: SessionDep, admin: AdminUser, form: PostedForm
) -> Response:
    data = _input(form)
    try:
        webhooks.update_endpoint(session, endpoint_id, data)
    except AppError as exc:
        if exc.status != 422:
            raise
        session.rollback()
        context = endpoint_context(session, endpoint_id, _values(data), _errors(exc))
        return render(request, "webhooks/endpoint.html", context, status_code=422)
    flash(request, "Webhook saved.")
    return _see_other(f"/admin/webhooks/{endpoint_id}")


@router.post("/admin/webhooks/{endpoint_id}/delete", dependencies=CSRF)
def delete_webhook(
    endpoint_id: Id, request: Request, session: SessionDep, admin: AdminUser
) -> Response:
    webhooks.delete_endpoint(session, endpoint_id)
    flash(request, f"Webhook {endpoint_id} removed, with its deliveries.")
    return _see_other("/admin/webhooks")
