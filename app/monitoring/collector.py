"""Gauges read from the database at scrape time (issue 23): leases, prompts complete per
set, job queues, worker heartbeats, generation throughput.

Read at scrape time rather than kept in process so that every app process (and every
compose replica) reports the same values from the one database, and a restart loses
nothing. Each query is cheap by construction: live leases through the partial index of
leased assignments, completion from the per-prompt tallies (app.annotation.tallies,
one lead row per annotated prompt), queues and running work through each job table's
status index. Ages use the database's clock (app.core.db.DatabaseClock), like the leases.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.annotation.models import Assignment
from app.annotation.tallies import AnnotatorPromptTally
from app.core.db import db_now
from app.generation.models import GenerationJob
from app.judges.models import JudgeRun
from app.prompt_sets.models import Prompt, PromptSet
from app.reward.models import RewardModel

# Job tables by the kind a dashboard shows; each has status, created_at, worker_id and
# heartbeat_at, and "queued" / "running" statuses.
JOB_TABLES: dict[str, type[GenerationJob] | type[JudgeRun] | type[RewardModel]] = {
    "generation": GenerationJob,
    "judge": JudgeRun,
    "reward": RewardModel,
}


def _seconds(now: dt.datetime, then: dt.datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


class DatabaseMetrics(Collector):
    """One scrape's database reads, through the request's session (read only)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        session = self._session
        now = db_now(session)
        yield from self._leases(session, now)
        yield from self._prompt_sets(session)
        yield from self._jobs(session, now)
        yield from self._generation(session)
        took = GaugeMetricFamily(
            "ranklab_metrics_collect_seconds", "Time this scrape spent reading the database"
        )
        took.add_metric([], time.perf_counter() - started)
        yield took

    def _leases(self, session: Session, now: dt.datetime) -> Iterator[Metric]:
        a = Assignment
        live, expired = session.execute(
            select(
                func.count().filter(a.lease_expires_at > now),
                func.count().filter(a.lease_expires_at <= now),
            ).where(a.status == "leased")
        ).one()
        leases = GaugeMetricFamily(
            "ranklab_leases",
            "Items leased to annotators and not yet submitted or skipped; expired: past "
            "their lease time and not yet reclaimed",
            labels=["state"],
        )
        leases.add_metric(["live"], live)
        leases.add_metric(["expired"], expired)
        yield leases

    def _prompt_sets(self, session: Session) -> Iterator[Metric]:
        active = Prompt.status == "active"
        sets = session.execute(
            select(PromptSet.id, PromptSet.name).where(PromptSet.status != "archived")
        ).all()
        ids = [row.id for row in sets]
        totals = dict(
            session.execute(
                select(Prompt.prompt_set_id, func.count())
                .where(Prompt.prompt_set_id.in_(ids), active)
                .group_by(Prompt.prompt_set_id)
            ).all()
        )
        # A prompt is complete at its seat target (k plus escalation's seats), as the claim
        # and the progress page (app.analytics.loaders.load_progress) count it.
        t = AnnotatorPromptTally
        complete = dict(
            session.execute(
                select(t.prompt_set_id, func.count())
                .join(Prompt, Prompt.id == t.prompt_id)
                .join(PromptSet, PromptSet.id == t.prompt_set_id)
                .where(
                    t.prompt_set_id.in_(ids),
                    t.prompt_lead == 1,
                    active,
                    t.prompt_annotations >= PromptSet.annotators_per_prompt + Prompt.extra_seats,
                )
                .group_by(t.prompt_set_id)
            ).all()
        )
        info = GaugeMetricFamily(
            "ranklab_prompt_set_info", "Names of the prompt sets (1 per set)", labels=["id", "name"]
        )
        prompts = GaugeMetricFamily(
            "ranklab_prompts", "Active prompts per prompt set", labels=["prompt_set_id"]
        )
        done = GaugeMetricFamily(
            "ranklab_prompts_complete",
            "Active prompts that reached their seat target of annotations",
            labels=["prompt_set_id"],
        )
        for set_id, name in sets:
            info.add_metric([str(set_id), name], 1)
            prompts.add_metric([str(set_id)], totals.get(set_id, 0))
            done.add_metric([str(set_id)], complete.get(set_id, 0))
        yield from (info, prompts, done)

    def _jobs(self, session: Session, now: dt.datetime) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "ranklab_queue_depth", "Jobs waiting for a worker", labels=["kind"]
        )
        oldest = GaugeMetricFamily(
            "ranklab_queue_oldest_age_seconds",
            "Age of the oldest job waiting for a worker (0: none waiting)",
            labels=["kind"],
        )
        running = GaugeMetricFamily("ranklab_jobs_running", "Jobs a worker holds", labels=["kind"])
        heartbeat = GaugeMetricFamily(
            "ranklab_worker_heartbeat_age_seconds",
            "Time since each worker holding a job last proved it is alive",
            labels=["kind", "worker"],
        )
        for kind, table in JOB_TABLES.items():
            waiting, first = session.execute(
                select(func.count(), func.min(table.created_at)).where(table.status == "queued")
            ).one()
            depth.add_metric([kind], waiting)
            oldest.add_metric([kind], _seconds(now, first))
            held = session.execute(
                select(table.worker_id, func.count(), func.max(table.heartbeat_at))
                .where(table.status == "running")
                .group_by(table.worker_id)
            ).all()
            running.add_metric([kind], sum(n for _, n, _ in held))
            for worker, _, beat in held:
                heartbeat.add_metric([kind, worker or "unknown"], _seconds(now, beat))
        yield from (depth, oldest, running, heartbeat)

    def _generation(self, session: Session) -> Iterator[Metric]:
        j = GenerationJob
        tokens, per_second = session.execute(
            select(
                func.coalesce(func.sum(j.tokens_generated), 0),
                func.coalesce(func.sum(j.tokens_per_second).filter(j.status == "running"), 0.0),
            )
        ).one()
        total = CounterMetricFamily(
            "ranklab_generation_tokens", "Tokens generated by all generation jobs"
        )
        total.add_metric([], tokens)
        rate = GaugeMetricFamily(
            "ranklab_generation_tokens_per_second",
            "Generation throughput: the sum over running jobs of each job's tokens per second",
        )
        rate.add_metric([], float(per_second or 0.0))
        yield from (total, rate)
