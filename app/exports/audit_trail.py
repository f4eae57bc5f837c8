"""An export's audit row (app.core.audit): who exported what, with which options, and
how many rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy.orm import Session

from app.core import audit
from app.core.audit import ActorRef, Target
from app.core.request_context import RequestContext
from app.exports import service
from app.exports.plan import ExportPlan


def audited_chunks(
    make_session: Callable[[], Session],
    plan: ExportPlan,
    *,
    actor: ActorRef | None,
    request: RequestContext | None,
    on_rows: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """export_chunks, then the audit row.

    The row count is known only when the stream ends, so the row is written then, in a
    transaction of its own: the export changes nothing, and the request's transaction
    ended before the first byte (app/exports/api.py). A stream that broke off (the client
    went away, a read failed) is recorded too, with `completed: false` and the rows sent
    so far."""
    rows = [0]

    def count(n: int) -> None:
        rows[0] += n
        if on_rows is not None:
            on_rows(n)

    completed = False
    try:
        yield from service.export_chunks(make_session, plan, on_rows=count)
        completed = True
    finally:
        set_ids = ",".join(str(s["id"]) for s in plan.prompt_sets)
        with make_session() as session:
            audit.record(
                session,
                actor,
                "export.downloaded",
                Target("prompt_set", set_ids[:64]),
                request=request,
                details={
                    "format": plan.options.format,
                    "options": plan.options.model_dump(mode="json"),
                    "prompt_sets": [s["name"] for s in plan.prompt_sets],
                    "rows": rows[0],
                    "completed": completed,
                    "filename": plan.filename,
                },
            )
            session.commit()
