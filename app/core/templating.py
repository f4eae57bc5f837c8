"""Jinja2 environment: autoescape on, a sanitising markdown filter, flash messages."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.core.csrf import csrf_token
from app.core.markdown import render_markdown
from app.core.package_files import TEMPLATES_DIR

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
    ctx = {"current_user": getattr(request.state, "user", None)}
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def render_error_page(
    request: Request, status: int, message: str, errors: list[dict[str, Any]]
) -> HTMLResponse:
    name = f"errors/{status}.html"
    if not (TEMPLATES_DIR / name).exists():
        name = "errors/error.html"
    return render(request, name, {"status": status, "message": message, "errors": errors}, status)
