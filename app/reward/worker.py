"""Reward-model work for `ranklab worker`: train queued versions, score new candidates.

`run_once()` is one step, called by the generation worker's loop (app.cli.worker and
the in-process worker of `ranklab serve` hand it over), so one process runs both kinds of
work. A queued version is claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL (BEGIN
IMMEDIATE serialises SQLite), so two workers never train the same version. While it
trains, a heartbeat thread refreshes `heartbeat_at` and notices cancellation. A version
whose heartbeat is older than `worker_stale_seconds` belongs to a dead worker (kill -9,
power loss): any worker marks it failed with that reason, and since activation is only
ever written by `finish_version`, the set's previous active version stays active.
"""

from __future__ import annotations

import logging
import threading
import traceback

from sqlalchemy import Engine, select

from app.core.config import Settings
from app.core.db import is_sqlite, make_sessionmaker, utcnow
from app.core.errors import AppError
from app.core.heartbeat import heartbeat
from app.prompt_sets.models import Prompt, PromptSet
from app.reward import artifacts, service
from app.reward.errors import TrainingCancelled
from app.reward.models import RewardModel
from app.reward.routing import refresh_priorities
from app.reward.scoring import score_missing
from app.reward.training import Outcome, Progress, train_fast

log = logging.getLogger("ranklab.reward")


class RewardWorker:
    def __init__(self, engine: Engine, app_settings: Settings, worker_id: str) -> None:
        self.engine = engine
        self.settings = app_settings
        self.sessionmaker = make_sessionmaker(engine)
        self.worker_id = worker_id
        self._held: int | None = None
        self._cancelled = threading.Event()

    def run_once(self) -> bool:
        """Fail stale versions, then train one queued version, or else queue due
        retrains and score candidates that active versions have not scored yet."""
        with self.sessionmaker() as session:
            service.fail_stale_versions(session, stale_seconds=self.settings.worker_stale_seconds)
        version_id = self.claim()
        if version_id is not None:
            self.train(version_id)
            return True
        with self.sessionmaker() as session:
            if service.queue_due_retrains(
                session, min_comparisons=self.settings.reward_min_comparisons
            ):
                return True
        return self.score_new_candidates()

    def claim(self) -> int | None:
        with self.sessionmaker() as session:
            query = (
                select(RewardModel)
                .where(RewardModel.status == "queued")
                .order_by(RewardModel.id)
                .limit(1)
            )
            if not is_sqlite(self.engine):
                query = query.with_for_update(skip_locked=True)
            version = session.scalars(query).first()
            if version is None:
                session.rollback()
                return None
            now = utcnow()
            version.status, version.worker_id = "running", self.worker_id
            version.started_at = version.heartbeat_at = now
            version.progress_message = "starting"
            session.commit()
            return version.id

    def train(self, version_id: int) -> None:
        """Run one claimed version to its end: done, failed with the reason, or cancelled."""
        self._held, self._cancelled = version_id, threading.Event()
        who = f"reward worker {self.worker_id}"
        try:
            with heartbeat(self.heartbeat, self.settings.worker_heartbeat_seconds, who):
                outcome = self._run(version_id)
            with self.sessionmaker() as session:
                service.finish_version(session, version_id=version_id, outcome=outcome)
        except TrainingCancelled:
            self._end(version_id, "cancelled")
        except AppError as exc:
            self._end(version_id, exc.message)
        except Exception as exc:
            log.exception("reward model %s failed", version_id)
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self._end(version_id, f"{type(exc).__name__}: {exc} ({where.filename}:{where.lineno})")
        finally:
            self._held = None

    def _run(self, version_id: int) -> Outcome:
        with self.sessionmaker() as session:
            version = service.load_version(session, version_id)
            name = session.get(PromptSet, version.prompt_set_id).name  # type: ignore[union-attr]
            session.commit()  # progress reports write from their own sessions meanwhile
            progress = self._progress(version_id)
            if version.kind == "full":
                from app.reward.full import train_full

                return train_full(session, version, self.settings, progress, prompt_set_name=name)
            return train_fast(session, version, self.settings, progress, prompt_set_name=name)

    def _progress(self, version_id: int) -> Progress:
        def report(fraction: float, message: str) -> None:
            if self._cancelled.is_set():
                raise TrainingCancelled
            with self.sessionmaker() as session:
                version = session.get(RewardModel, version_id)
                if version is None or version.cancel_requested or version.status != "running":
                    session.rollback()
                    raise TrainingCancelled
                version.progress = round(min(max(fraction, 0.0), 1.0), 4)
                version.progress_message = message[:200]
                version.heartbeat_at = utcnow()
                session.commit()

        return report

    def _end(self, version_id: int, reason: str) -> None:
        with self.sessionmaker() as session:
            service.fail_version(session, version_id=version_id, reason=reason)

    def heartbeat(self) -> None:
        version_id = self._held
        if version_id is None:
            return
        with self.sessionmaker() as session:
            version = session.get(RewardModel, version_id)
            if version is None:
                return
            if version.cancel_requested:
                self._cancelled.set()
            if version.status == "running":
                version.heartbeat_at = utcnow()
            session.commit()

    def score_new_candidates(self) -> bool:
        """Score candidates added since their set's active version was trained; give
        prompts added to a `random` set their place."""
        with self.sessionmaker() as session:
            unplaced = (
                select(PromptSet)
                .join(Prompt, Prompt.prompt_set_id == PromptSet.id)
                .where(PromptSet.routing == "random", Prompt.priority == 0)
                .distinct()
            )
            for prompt_set in session.scalars(unplaced):
                refresh_priorities(session, prompt_set)
            session.commit()
            for version in session.scalars(
                select(RewardModel).where(RewardModel.is_active.is_(True))
            ):
                if artifacts.existing_folder(version.artifact_path) is None:
                    continue  # nothing to score with (files removed); rescoring says so
                if score_missing(session, version, self.settings):
                    session.commit()
                    return True
            session.rollback()
        return False
