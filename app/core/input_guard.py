"""Refuse unstorable input for every route at once, before any route reads it.

Whatever the route, its JSON body, form fields and query string may not carry a NUL
character or an unpaired surrogate (PostgreSQL refuses both, which used to surface as a
500), and a JSON body may not nest deeper than MAX_JSON_DEPTH (a 100,000-deep array made
the JSON parser itself fail). The answer is a 422 naming the field, and nothing is written.
Routes still validate their own shapes and limits; this is the floor under all of them.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import send_json_error
from app.core.inputs import MAX_JSON_DEPTH, json_problem, storable_text_problem

BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _pairs_problem(pairs: list[tuple[str, str]], where: str) -> tuple[str, str] | None:
    for name, value in pairs:
        for text in (name, value):
            if problem := storable_text_problem(text):
                return name, f"({where}) {problem}"
    return None


def _may_have_json_problem(body: bytes) -> bool:
    """False when no problem is possible, decided on the bytes without parsing (issue 22:
    the guard parsed every JSON body the route then parses again; most bodies, such as a
    submit, need neither parse here). In a UTF-8 body a NUL or a lone surrogate that the
    JSON parser would accept is written as a `\\u` escape, or as raw bytes: a NUL byte
    (json.loads refuses it inside a string) or a surrogate's UTF-8 form, which starts with
    0xED (json.loads decodes with "surrogatepass"); and the nesting depth is at most the
    count of `[` and `{`. A body with a zero byte (UTF-16 or UTF-32, which json.loads also
    reads) is always parsed, and so is one with 0xED (also Hangul's lead byte)."""
    return (
        b"\\u" in body
        or b"\x00" in body
        or b"\xed" in body
        or body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH
    )


def _json_body_problem(body: bytes) -> tuple[str, str] | None:
    if not _may_have_json_problem(body):
        return None
    try:
        value: Any = json.loads(body)
    except RecursionError:
        return "", f"is nested more than {MAX_JSON_DEPTH} levels deep"
    except ValueError:
        return None  # not JSON: the route answers its own 422
    return json_problem(value)


class InputGuard:
    """Pure ASGI middleware: buffers only JSON and urlencoded form bodies (already capped
    by BodySizeLimit) and hands them on unchanged when they pass."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        found = None
        # Undecoded, the query string is Latin-1 (no surrogates); a NUL or a lone surrogate
        # can only come percent-encoded, so a query without "%" (or a raw NUL) is not parsed.
        if "%" in query or "\x00" in query:
            found = _pairs_problem(parse_qsl(query, keep_blank_values=True), "query")
        content_type = dict(scope.get("headers", [])).get(b"content-type", b"").lower()
        body: bytes | None = None
        if found is None and scope["method"] in BODY_METHODS:
            if b"json" in content_type:
                body = await _read_body(receive)
                found = _json_body_problem(body)
            elif content_type.startswith(b"application/x-www-form-urlencoded"):
                body = await _read_body(receive)
                if b"%" in body or b"\x00" in body:  # as for the query string
                    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
                    found = _pairs_problem(pairs, "form")
        if found is not None:
            await _refuse(send, *found)
            return
        if body is None:
            await self.app(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # e.g. http.disconnect

    return replay


async def _refuse(send: Send, where: str, problem: str) -> None:
    message = f"{where}: {problem}" if where else f"The request body {problem}"
    await send_json_error(send, 422, message, [{"field": where or None, "message": problem}])
