"""Judge use cases: create, edit (a new version), list; queue, cancel and watch runs.

Each public function the API and pages call commits once at its end; helpers add and
flush. The ranking itself happens in a worker (app.judges.worker).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core import audit
from app.core.audit import Target
from app.core.config import Settings
from app.core.db import utcnow
from app.judges.errors import (
    JudgeNameTaken,
    JudgeNotFound,
    JudgeRunConflict,
    JudgeRunNotFound,
    JudgeVersionReplaced,
)
from app.judges.models import ACTIVE_RUN_STATUSES, Judge, JudgeRanking, JudgeRun
from app.judges.schemas import JudgeEdit, JudgeIn, JudgeOut, JudgeRankingOut
from app.judges.settings import checked_settings, pinned_settings, resolve_judge_settings
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Prompt

# -- judges -------------------------------------------------------------------------------


def create_judge(
    session: Session,
    *,
    prompt_set_id: int,
    data: JudgeIn,
    created_by_id: int | None,
    app_settings: Settings,
) -> Judge:
    """Version 1 of a new judge; 422 for bad settings (naming the field), 409 for a name
    the set already uses or an archived set. Commits."""
    prompt_set_service.load_writable_prompt_set(session, prompt_set_id)
    settings = checked_settings(data.settings, app_settings)
    if _current(session, prompt_set_id, data.name) is not None:
        raise _name_taken(data.name)
    judge = Judge(
        prompt_set_id=prompt_set_id,
        name=data.name,
        version=1,
        mode=data.mode,
        settings=settings,
        rubric=data.rubric,
        suggest_to_annotators=data.suggest_to_annotators,
        created_by_id=created_by_id,
    )
    _commit_new_version(session, judge, None)
    return judge


def edit_judge(
    session: Session,
    *,
    prompt_set_id: int,
    judge_id: int,
    data: JudgeEdit,
    created_by_id: int | None,
    app_settings: Settings,
) -> Judge:
    """A new version with the given fields replaced; the edited one stops being current.
    Stored rankings keep pointing at the version that made them. Editing a replaced
    version is a 409 (edit the current one). Commits."""
    prompt_set_service.load_writable_prompt_set(session, prompt_set_id)
    old = load_judge(session, judge_id, prompt_set_id)
    _check_current(old)
    settings = (
        checked_settings(data.settings, app_settings)
        if data.settings is not None
        else pinned_settings(old.settings, app_settings)
    )
    new = Judge(
        prompt_set_id=prompt_set_id,
        name=old.name,
        version=old.version + 1,
        mode=data.mode or old.mode,
        settings=settings,
        rubric=data.rubric if data.rubric is not None else old.rubric,
        suggest_to_annotators=(
            old.suggest_to_annotators
            if data.suggest_to_annotators is None
            else data.suggest_to_annotators
        ),
        created_by_id=created_by_id,
    )
    old.is_current = False
    _commit_new_version(session, new, old)
    return new


def _judge_fields(judge: Judge) -> dict[str, Any]:
    return {
        "name": judge.name,
        "version": judge.version,
        "mode": judge.mode,
        "settings": judge.settings,
        "rubric": judge.rubric,
        "suggest_to_annotators": judge.suggest_to_annotators,
    }


def _commit_new_version(session: Session, judge: Judge, old: Judge | None) -> None:
    """Add the version (the set's current one from now on) and its audit row; commit."""
    session.add(judge)
    try:
        session.flush()
        audit.record(
            session,
            None,
            "judge.created" if old is None else "judge.version_activated",
            Target("judge", judge.id),
            audit.created(_judge_fields(judge))
            if old is None
            else audit.diff(_judge_fields(old), _judge_fields(judge)),
            details={"prompt_set_id": judge.prompt_set_id, "replaces_judge_id": old and old.id},
        )
        session.commit()
    except IntegrityError:
        # Two edits of one version at once: (set, name, version) is unique, so the
        # second writer lands here instead of making a second "version 2".
        session.rollback()
        raise _name_taken(judge.name, judge.version) from None


def _name_taken(name: str, version: int = 1) -> JudgeNameTaken:
    if version > 1:
        return JudgeNameTaken(f"Judge {name!r} was edited meanwhile; reload and edit again.")
    return JudgeNameTaken(
        f"name: this prompt set already has a judge named {name!r}; edit it instead.",
        errors=[{"field": "name", "message": f"{name!r} is taken"}],
    )


def _check_current(judge: Judge) -> None:
    if not judge.is_current:
        raise JudgeVersionReplaced(
            f"Judge {judge.name!r} version {judge.version} was replaced by a newer version; "
            "use the current one."
        )


def _current(session: Session, prompt_set_id: int, name: str) -> Judge | None:
    return session.scalar(
        select(Judge).where(
            Judge.prompt_set_id == prompt_set_id, Judge.name == name, Judge.is_current.is_(True)
        )
    )


def load_judge(session: Session, judge_id: int, prompt_set_id: int | None = None) -> Judge:
    judge = session.get(Judge, judge_id)
    if judge is None or (prompt_set_id is not None and judge.prompt_set_id != prompt_set_id):
        where = f" in prompt set {prompt_set_id}" if prompt_set_id is not None else ""
        raise JudgeNotFound(f"Judge {judge_id} does not exist{where}.")
    return judge


def list_judges(session: Session, prompt_set_id: int, *, all_versions: bool = False) -> list[Judge]:
    """The set's judges by name (current versions; every version with `all_versions`,
    newest first within a name)."""
    query = select(Judge).where(Judge.prompt_set_id == prompt_set_id)
    if not all_versions:
        query = query.where(Judge.is_current.is_(True))
    return list(session.scalars(query.order_by(Judge.name, Judge.version.desc())))


def versions_of(session: Session, judge: Judge) -> list[Judge]:
    return list(
        session.scalars(
            select(Judge)
            .where(Judge.prompt_set_id == judge.prompt_set_id, Judge.name == judge.name)
            .order_by(Judge.version.desc())
        )
    )


def judge_out(judge: Judge) -> JudgeOut:
    return JudgeOut.model_validate({n: getattr(judge, n) for n in JudgeOut.model_fields})


# -- runs ---------------------------------------------------------------------------------


def pending_prompts(judge: Judge, run_id: int | None = None) -> Select[int]:
    """Prompt ids a run of `judge` still has to rank: the set's active prompts with their
    candidates, without a ranking by this version; a failure of an earlier run is tried
    again, one of `run_id` is not."""
    settled = JudgeRanking.status == "ranked"
    if run_id is not None:
        settled = or_(settled, JudgeRanking.run_id == run_id)
    done = exists().where(
        JudgeRanking.judge_id == judge.id, JudgeRanking.prompt_id == Prompt.id, settled
    )
    return (
        select(Prompt.id)
        .where(
            Prompt.prompt_set_id == judge.prompt_set_id,
            Prompt.status == "active",
            Prompt.candidates_ready.is_(True),
            ~done,
        )
        .order_by(Prompt.id)
    )


def count_pending(session: Session, judge: Judge, run_id: int | None = None) -> int:
    pending = pending_prompts(judge, run_id).subquery()
    return session.scalar(select(func.count()).select_from(pending)) or 0


def queue_run(
    session: Session,
    *,
    prompt_set_id: int,
    judge_id: int,
    created_by_id: int | None,
    app_settings: Settings,
) -> JudgeRun:
    """Queue the current version over the set's prompts it has not ranked yet. 409 for a
    replaced version or one with a run already queued or running; 422 when its settings
    no longer resolve (a model file gone, no server configured). Commits."""
    prompt_set_service.load_writable_prompt_set(session, prompt_set_id)
    judge = load_judge(session, judge_id, prompt_set_id)
    _check_current(judge)
    resolve_judge_settings(judge.settings, app_settings)
    active = session.scalar(
        select(JudgeRun.id).where(
            JudgeRun.judge_id == judge.id, JudgeRun.status.in_(ACTIVE_RUN_STATUSES)
        )
    )
    if active is not None:
        raise JudgeRunConflict(
            f"Judge {judge.name!r} version {judge.version} already has run #{active} "
            "queued or running; cancel it or wait for it."
        )
    total = count_pending(session, judge)
    now = utcnow()
    run = JudgeRun(
        judge_id=judge.id,
        total=total,
        status="queued" if total else "done",
        created_by_id=created_by_id,
        created_at=now,
        finished_at=None if total else now,
    )
    session.add(run)
    session.flush()
    audit.record(
        session,
        None,
        "judge_run.started",
        Target("judge_run", run.id),
        details={"prompt_set_id": prompt_set_id, "judge_id": judge.id, "prompts": total},
    )
    session.commit()
    return run


def load_run(session: Session, run_id: int, prompt_set_id: int | None = None) -> JudgeRun:
    run = session.get(JudgeRun, run_id)
    judge = session.get(Judge, run.judge_id) if run is not None else None
    if (
        run is None
        or judge is None
        or (prompt_set_id is not None and judge.prompt_set_id != prompt_set_id)
    ):
        where = f" in prompt set {prompt_set_id}" if prompt_set_id is not None else ""
        raise JudgeRunNotFound(f"Judge run {run_id} does not exist{where}.")
    return run


def cancel_run(session: Session, *, run_id: int, prompt_set_id: int) -> JudgeRun:
    """Stop a queued or running run: the worker drops what it has in flight. Commits."""
    run = load_run(session, run_id, prompt_set_id)
    session.refresh(run)
    if run.status not in ACTIVE_RUN_STATUSES:
        raise JudgeRunConflict(f"Judge run {run_id} is already {run.status}.")
    audit.record(
        session,
        None,
        "judge_run.cancelled",
        Target("judge_run", run.id),
        audit.diff({"status": run.status}, {"status": "cancelled"}),
        details={"prompt_set_id": prompt_set_id, "judge_id": run.judge_id},
    )
    run.status, run.cancel_requested, run.finished_at = "cancelled", True, utcnow()
    session.commit()
    return run


def latest_runs(session: Session, judge_ids: list[int]) -> dict[int, JudgeRun]:
    """Each judge version's newest run."""
    if not judge_ids:
        return {}
    newest = (
        select(func.max(JudgeRun.id))
        .where(JudgeRun.judge_id.in_(judge_ids))
        .group_by(JudgeRun.judge_id)
    )
    return {r.judge_id: r for r in session.scalars(select(JudgeRun).where(JudgeRun.id.in_(newest)))}


def run_progress(session: Session, run: JudgeRun) -> dict[str, Any]:
    """Plain progress data for the API and the progress bar (the shape of a generation
    job's, so the same script draws it)."""
    judge = session.get(Judge, run.judge_id)
    assert judge is not None
    finished = run.done + run.failed
    eta = None
    if run.status == "running" and run.started_at and finished:
        elapsed = (utcnow() - run.started_at).total_seconds()
        eta = round(elapsed / finished * (run.total - finished), 1)
    return {
        "id": run.id,
        "judge_id": run.judge_id,
        "judge": judge.name,
        "version": judge.version,
        "mode": judge.mode,
        "prompt_set_id": judge.prompt_set_id,
        "status": run.status,
        "total": run.total,
        "done": run.done,
        "failed": run.failed,
        "percent": round(100 * finished / run.total, 1) if run.total else 100.0,
        "eta_seconds": eta,
        "error": run.error,
        "backend": judge.settings.get("backend", "transformers"),
        "model": judge.settings.get("model", ""),
        "worker_id": run.worker_id,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "heartbeat_at": _iso(run.heartbeat_at),
        "finished_at": _iso(run.finished_at),
        "progress_url": f"/api/v1/prompt-sets/{judge.prompt_set_id}/judge-runs/{run.id}",
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


# -- rankings -----------------------------------------------------------------------------


def list_rankings(
    session: Session, judge: Judge, *, status: str | None = None, limit: int = 100
) -> list[JudgeRanking]:
    """A version's rankings, newest first (the failures, with `status="failed"`)."""
    query = select(JudgeRanking).where(JudgeRanking.judge_id == judge.id)
    if status is not None:
        query = query.where(JudgeRanking.status == status)
    return list(session.scalars(query.order_by(JudgeRanking.id.desc()).limit(limit)))


def ranking_out(ranking: JudgeRanking) -> JudgeRankingOut:
    return JudgeRankingOut.model_validate(
        {n: getattr(ranking, n) for n in JudgeRankingOut.model_fields}
    )
