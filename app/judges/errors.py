"""Judge errors: each says what is wrong and what to do."""

from __future__ import annotations

from app.core.errors import Conflict, InvalidInput, NotFound


class InvalidJudge(InvalidInput):
    code = "invalid_judge"


class JudgeNotFound(NotFound):
    code = "judge_not_found"


class JudgeNameTaken(Conflict):
    code = "judge_name_taken"


class JudgeVersionReplaced(Conflict):
    code = "judge_version_replaced"


class JudgeRunNotFound(NotFound):
    code = "judge_run_not_found"


class JudgeRunConflict(Conflict):
    code = "judge_run_conflict"
