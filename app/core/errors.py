"""The small exception family every domain raises, and the one JSON error shape.

Service code raises these (never HTTPException). `app.core.error_handlers` turns them into
responses; it lives apart so this module, imported by everything, imports nothing of ours.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request


class AppError(Exception):
    status = 400
    code = "bad_request"

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


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_body(message: str, status: int, errors: list[dict[str, Any]] | None = None) -> dict:
    """The one JSON error shape: {"ok": false, "error", "errors", "status"}."""
    return {"ok": False, "error": message, "errors": errors or [], "status": status}
