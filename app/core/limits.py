"""Refuse oversized request bodies before any route reads them."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import PayloadTooLarge, error_body


class BodySizeLimit:
    """Pure ASGI middleware: checks Content-Length up front and counts streamed bytes."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        received = 0
        response_started = False
        tripped = False  # the body went over the limit; the answer must be a 413

        async def limited_receive() -> Message:
            nonlocal received, tripped
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    tripped = True
                    raise self._too_large()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started, tripped
            if message["type"] == "http.response.start":
                response_started = True
                if tripped and message["status"] != 413:
                    # Our exception surfaced as something else (FastAPI turns any error
                    # while reading a JSON or multipart body into a 400): answer 413.
                    await self._reject(send)
                    return
                tripped = False  # the app's own 413 (the error handlers) goes out as is
            if tripped:
                return  # the rest of the replaced response
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except PayloadTooLarge as exc:
            if not response_started:
                await self._reject(send, exc)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"Request body is larger than the limit of {self.max_bytes} bytes.")

    async def _reject(self, send: Send, exc: PayloadTooLarge | None = None) -> None:
        # This middleware sits outside the app's exception handlers, so it writes the
        # error family's JSON shape itself.
        exc = exc or self._too_large()
        body = json.dumps(error_body(exc.message, exc.status)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": exc.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
