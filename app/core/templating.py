"""Jinja2 environment: autoescape on, a sanitising markdown filter, flash messages."""

from __future__ import annotations

import html
import logging
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.core.csrf import csrf_token
from app.core.markdown import render_markdown
from app.core.package_files import TEMPLATES_DIR

log = logging.getLogger("ranklab.errors")
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.autoescape = True
templates.env.filters["markdown"] = render_markdown
templates.env.globals["csrf_token"] = csrf_token

FLASH_KEY = "_flash"


def flash(request: Request, message: str, category: str = "info") -> None:
    # Assign a new list: Starlette's session only notices __setitem__, not in-place appends,
    # so appending to a pending flash list would silently drop the new message.
    pending = request.session.get(FLASH_KEY, [])
    request.session[FLASH_KEY] = [*pending, {"message": message, "category": category}]


def pop_flashes(request: Request) -> list[dict[str, str]]:
    return request.session.pop(FLASH_KEY, [])


templates.env.globals["pop_flashes"] = pop_flashes


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    # `viewer` holds plain values (see app.accounts.deps.Viewer): never a lazy ORM object.
    ctx = {"current_user": getattr(request.state, "viewer", None)}
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def render_error_page(
    request: Request, status: int, message: str, errors: list[dict[str, Any]]
) -> HTMLResponse:
    name = f"errors/{status}.html"
    if not (TEMPLATES_DIR / name).exists():
        name = "errors/error.html"
    request_id = getattr(request.state, "request_id", None)
    context = {"status": status, "message": message, "errors": errors, "request_id": request_id}
    try:
        return render(request, name, context, status)
    except Exception:  # the error page must not fail in turn: fall back to plain HTML
        log.exception("error page failed to render, request_id=%s", request_id)
        body = (
            f"<!doctype html><title>Error {status}</title><h1>Error {status}</h1>"
            f"<p>{html.escape(message)}</p><p>Request id: {html.escape(str(request_id))}</p>"
        )
        return HTMLResponse(body, status_code=status)
