"""The webhook events, one place: an endpoint subscribes to some of these names, and
`outbox.emit` refuses any other. A new background job kind (policy training, say) is one
more entry in JOB_KINDS: it then has `<kind>_job.finished` and `<kind>_job.failed`."""

from __future__ import annotations

# Background work that ends in finished or failed. Cancelled work sends nothing: an admin
# asked for it.
JOB_KINDS = ("generation", "judge", "reward")

PROMPT_COMPLETED = "prompt.completed"
PROMPT_CONTESTED = "prompt.contested"
ANNOTATOR_HELD = "annotator.held"


def job_event(kind: str, outcome: str) -> str:
    """`generation_job.finished`, `reward_job.failed`, ...; outcome: finished or failed."""
    return f"{kind}_job.{outcome}"


EVENTS: tuple[str, ...] = (
    PROMPT_COMPLETED,
    PROMPT_CONTESTED,
    ANNOTATOR_HELD,
    *(job_event(kind, outcome) for kind in JOB_KINDS for outcome in ("finished", "failed")),
)

# What each event means, for the admin page and the API docs.
DESCRIPTIONS: dict[str, str] = {
    PROMPT_COMPLETED: "a prompt's rankings filled its seats and no seat was added",
    PROMPT_CONTESTED: "a prompt's rankings disagree: a seat was added, or it went to adjudication",
    ANNOTATOR_HELD: "an annotator failed a qualification round or was paused by gold answers",
    **{
        job_event(kind, outcome): f"a {kind} job {outcome}"
        for kind in JOB_KINDS
        for outcome in ("finished", "failed")
    },
}
