"""Security headers on every response, and a request id to tie a user's report to the log.

The request id is the caller's X-Request-ID when that is a short plain token (a proxy's
id then names the same request in both logs), a fresh one otherwise; it is echoed in the
response and opened as the request's audit context (app.core.request_context).

The pages use only their own script and style files (no inline <script>, no style=""
attributes, no CDN), so the Content-Security-Policy can be strict: 'self' only.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import request_context

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Swagger UI draws its logo and icons as data: URIs.
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), interest-cohort=()"
)
HSTS = "max-age=31536000; includeSubDomains"
REQUEST_ID_HEADER = "X-Request-ID"
# Static files (versioned by the package release) may be cached; everything else may
# carry a user's data or a CSRF token, so browsers and proxies must not store it.
CACHEABLE_PREFIXES = ("/static/",)


def security_headers(*, cacheable: bool = False, hsts: bool = False) -> dict[str, str]:
    """The headers every response carries (the request id aside)."""
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Permissions-Policy": PERMISSIONS_POLICY,
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if not cacheable:
        headers["Cache-Control"] = "no-store"
    if hsts:
        headers["Strict-Transport-Security"] = HSTS
    return headers


class SecurityHeaders:
    """Pure ASGI middleware: adds the headers at response start, never buffers a body."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_context.request_id_from(_header(scope, b"x-request-id"))
        # Request.state reads scope["state"]; the error handlers log and show this id.
        scope.setdefault("state", {})["request_id"] = request_id
        cacheable = scope["path"].startswith(CACHEABLE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                headers.update(security_headers(cacheable=cacheable, hsts=self.hsts))
            await send(message)

        client = scope.get("client")
        token = request_context.begin(request_id, client[0] if client else None)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            request_context.end(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None
