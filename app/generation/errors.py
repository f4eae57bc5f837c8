"""Generation errors: bad settings (422), bad job state (409), backend failures."""

from __future__ import annotations

from app.core.errors import Conflict, InvalidInput, NotFound


class InvalidGenerationSettings(InvalidInput):
    code = "invalid_generation_settings"


class JobNotFound(NotFound):
    code = "generation_job_not_found"


class JobNotCancellable(Conflict):
    code = "generation_job_not_cancellable"


class BackendError(Exception):
    """A generation call failed; the prompts involved are retried a bounded number of times."""


class BackendUnavailable(BackendError):
    """The backend cannot work at all (server unreachable, model missing): the job fails."""
