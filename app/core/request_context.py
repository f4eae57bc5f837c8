"""Who and where the current request comes from, for the audit log (app.core.audit).

The request-id middleware (app.core.security_headers) opens one RequestContext per HTTP
request in a context variable; the auth dependency (app.accounts.deps) fills in the
signed-in user once it knows them. Service functions deep below the routes can then
record an audit event without every signature carrying a Request. Sync routes run in
Starlette's thread pool with a copy of the context, so they see the same (mutable)
object: filling in the actor there is seen by the route that runs next.

Outside a request (CLI, workers, tests calling services directly) there is no context:
the audit row gets no request id and no address, and the actor is whoever the caller
names explicitly (None for the system).
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token
from dataclasses import dataclass

# A caller's (or proxy's) own id is kept when it is short and plain, so one id ties a
# proxy log line to ours; anything else (long, spaces, quotes, newlines) gets a fresh one.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass
class RequestContext:
    request_id: str
    client_address: str | None
    actor_id: int | None = None
    actor_name: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("ranklab_request", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex[:12]


def request_id_from(header_value: str | None) -> str:
    """A valid incoming X-Request-ID, or a fresh one."""
    if header_value and _VALID_REQUEST_ID.match(header_value):
        return header_value
    return new_request_id()


def begin(request_id: str, client_address: str | None) -> Token[RequestContext | None]:
    return _current.set(RequestContext(request_id, client_address))


def end(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


def current() -> RequestContext | None:
    return _current.get()


def set_actor(actor_id: int, actor_name: str) -> None:
    """The request's signed-in user (called by the auth dependency)."""
    context = _current.get()
    if context is not None:
        context.actor_id, context.actor_name = actor_id, actor_name
