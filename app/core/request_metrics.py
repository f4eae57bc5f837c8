"""Counts and times every HTTP request by its route *template* (`/api/v1/assignments/{id}`),
so the number of series stays bounded whatever paths clients send (issue 23).

A pure ASGI middleware, kept small: the annotation hot path's CPU budget is ~5 ms a
request, and this adds a counter and a histogram write (see docs/benchmarks.md).
The router leaves the matched route in the request scope; a request no route matched
(a 404, or one refused by a guard before routing) is labelled `none`.
"""

from __future__ import annotations

from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.metrics import HTTP_REQUESTS, HTTP_SECONDS

UNROUTED = "none"


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500  # what the server answers if the app raises before responding

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNROUTED
            method = scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_SECONDS.labels(method, route).observe(perf_counter() - started)
