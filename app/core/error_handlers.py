"""The one handler that renders every error: JSON for `/api/` paths and
`Accept: application/json`, an error page (or a login redirect for 401) otherwise.

Apart from `app.core.errors` because it needs the templates, and the templates need CSRF,
which raises `NotAllowed`: keeping the exceptions import-free breaks that loop.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.errors import AppError, error_body, wants_json
from app.core.security_headers import REQUEST_ID_HEADER, security_headers
from app.core.templating import render_error_page

log = logging.getLogger("ranklab.errors")
DATABASE_RETRY_AFTER_SECONDS = 5


def render_error(
    request: Request,
    status: int,
    message: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    if wants_json(request):
        headers = dict(headers or {})
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(
            error_body(message, status, errors), status_code=status, headers=headers
        )
    if status == 401:
        # A page that needs a login sends the browser to the login form and back.
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}", status_code=303)
    response = render_error_page(request, status, message, errors or [])
    response.headers.update(headers or {})
    return response


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body", "query", "path")]
        out.append({"field": ".".join(loc) or None, "message": err.get("msg", "invalid value")})
    return out


def request_id_of(request: Request) -> str:
    """The id the SecurityHeaders middleware gave this request (a fresh one if none)."""
    return getattr(request.state, "request_id", None) or uuid.uuid4().hex[:12]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        return render_error(request, exc.status, exc.message, exc.errors, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"field": None, "message": "invalid request"}
        where = f"{first['field']}: " if first["field"] else ""
        return render_error(request, 422, f"{where}{first['message']}", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"{request.method} is not allowed here; use {allowed or 'another method'}."
        # Headers such as 405's Allow travel on.
        return render_error(request, exc.status_code, message, headers=exc.headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_unavailable(request: Request, exc: Exception) -> Response:
        # The database went away (restart, network, failover). The pool pings connections
        # before use (pool_pre_ping), so the first request after it is back succeeds again:
        # no app restart needed. Meanwhile a clear, retryable 503 instead of a 500.
        log.warning(
            "database unavailable, request_id=%s path=%s: %s",
            request_id_of(request),
            request.url.path,
            type(exc.__cause__ or exc).__name__,
        )
        return render_error(
            request,
            503,
            "The database is unavailable right now; try again in a moment.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(StaleDataError)
    async def _changed_meanwhile(request: Request, exc: StaleDataError) -> Response:
        # The row was deleted (or changed) by a concurrent request between our read and
        # our write, e.g. clearing a prompt's gold while another request deletes it.
        log.info(
            "concurrent change, request_id=%s path=%s", request_id_of(request), request.url.path
        )
        return render_error(
            request,
            409,
            "What you changed was changed or deleted by someone else meanwhile; "
            "reload and try again.",
        )

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> Response:
        # A backstop: the input types (app/core/inputs.py, InputGuard) refuse these values
        # with the field's name first; anything that still reaches the database is the
        # caller's value, not our bug, so a 422 rather than a 500.
        log.warning(
            "database refused a value, request_id=%s path=%s: %s",
            request_id_of(request),
            request.url.path,
            exc.orig,
        )
        return render_error(
            request,
            422,
            "A value in the request can't be stored: a number out of range "
            f"(ids and counts go up to {2**31 - 1}) or text the database refuses.",
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        request_id = request_id_of(request)
        log.exception("unhandled error, request_id=%s path=%s", request_id, request.url.path)
        # Starlette answers this one from its outermost middleware, outside SecurityHeaders,
        # so the 500 carries the same headers itself.
        settings = getattr(request.app.state, "settings", None)
        headers = security_headers(hsts=bool(getattr(settings, "secure_cookies", False)))
        return render_error(
            request,
            500,
            f"Something went wrong on our side (request id {request_id}).",
            headers={**headers, REQUEST_ID_HEADER: request_id},
        )
