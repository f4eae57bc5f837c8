"""The small exception family every domain raises, and the one JSON error shape.

Service code raises these (never HTTPException). `app.core.error_handlers` turns them into
responses; it lives apart so this module, imported by everything, imports nothing of ours.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from pydantic import BaseModel


class AppError(Exception):
    status = 400
    code = "bad_request"
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class InvalidInput(AppError):
    status = 422
    code = "invalid_input"


class NotAuthenticated(AppError):
    status = 401
    code = "not_authenticated"


class NotAllowed(AppError):
    status = 403
    code = "not_allowed"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"


class ErrorOut(BaseModel):
    """The one JSON error shape (see error_body)."""

    ok: bool = False
    error: str
    errors: list[dict[str, Any]] = []
    status: int


# What any JSON route may answer besides its success, declared in OpenAPI so the document
# is honest (the fuzzer in tests/db/test_api_fuzz.py checks responses against it).
API_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in {
        400: "the body is not valid JSON (or not the declared content type)",
        401: "not logged in, or an unknown/revoked API token",
        403: "the role does not allow this, or a missing CSRF token",
        404: "no such object",
        405: "method not allowed (see the Allow header)",
        409: "conflicts with the current state",
        413: "request body over the size limit",
        422: "invalid input; `errors` names each field",
        429: "rate limited (see the Retry-After header)",
        503: "the database is unavailable (see the Retry-After header)",
    }.items()
}


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_body(message: str, status: int, errors: list[dict[str, Any]] | None = None) -> dict:
    """The one JSON error shape: {"ok": false, "error", "errors", "status"}."""
    return {"ok": False, "error": message, "errors": errors or [], "status": status}


async def send_json_error(
    send: Any, status: int, message: str, errors: list[dict[str, Any]] | None = None
) -> None:
    """Answer from a pure ASGI middleware (before any route ran) in the one error shape."""
    body = json.dumps(error_body(message, status, errors)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
