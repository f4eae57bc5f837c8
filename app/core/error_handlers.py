"""The one handler that renders every error: JSON for `/api/` paths and
`Accept: application/json`, an error page (or a login redirect for 401) otherwise.

Apart from `app.core.errors` because it needs the templates, and the templates need CSRF,
which raises `NotAllowed`: keeping the exceptions import-free breaks that loop.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.errors import AppError, error_body, wants_json
from app.core.templating import render_error_page

log = logging.getLogger("ranklab.errors")


def render_error(
    request: Request, status: int, message: str, errors: list[dict[str, Any]] | None = None
) -> Response:
    if wants_json(request):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(
            error_body(message, status, errors), status_code=status, headers=headers
        )
    if status == 401:
        # A page that needs a login sends the browser to the login form and back.
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}", status_code=303)
    return render_error_page(request, status, message, errors or [])


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body", "query", "path")]
        out.append({"field": ".".join(loc) or None, "message": err.get("msg", "invalid value")})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        return render_error(request, exc.status, exc.message, exc.errors)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"field": None, "message": "invalid request"}
        where = f"{first['field']}: " if first["field"] else ""
        return render_error(request, 422, f"{where}{first['message']}", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        return render_error(request, exc.status_code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        request_id = uuid.uuid4().hex[:12]
        log.exception("unhandled error, request_id=%s path=%s", request_id, request.url.path)
        return render_error(
            request, 500, f"Something went wrong on our side (request id {request_id})."
        )
