"""Judge runs for `ranklab worker`: rank a batch of prompts per step, one transaction each.

`run_once()` is one step of the generation worker's loop (app.cli.worker and the
in-process worker of `ranklab serve` hand it over, as they do reward training). A run is
claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL (BEGIN IMMEDIATE serialises SQLite):
a queued run, one this worker already holds, or a running one whose heartbeat is older
than `worker_stale_seconds` (its worker died): that one is resumed where it stopped, since
what is left is simply the prompts without a ranking by this judge version. While a batch
runs, a heartbeat thread keeps the run fresh and notices cancellation. Each ranking is
written only after re-checking under a row lock that the run is still ours and running,
so a slow worker that was taken over, or a cancelled run, writes nothing; and
(judge, prompt) is unique, so a prompt is never ranked twice by one version. The write
also locks the prompt and drops a ranking of candidates replaced while the model ran
(locks: run, then prompt, then the ranking row). An answer cut off at max_new_tokens is a
failure, never a verdict; each call's seed comes from the version's settings and the
prompt, not from its place in the batch.

The model calls go through the generation backends, batched: the local transformers
backend gets up to `batch_sequences` calls per step, the OpenAI-compatible one
`openai_concurrency * 2` (its own retries cover timeouts, 429 and 5xx).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from itertools import combinations

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import is_sqlite, make_sessionmaker, utcnow
from app.core.errors import AppError
from app.core.heartbeat import heartbeat
from app.core.webhooks import events, outbox
from app.generation.backends import Backend, CandidateSpec, PromptRequest, PromptResult
from app.generation.backends.factory import make_backend
from app.generation.config import JobSettings
from app.generation.errors import BackendError, BackendUnavailable
from app.judges import figures, service
from app.judges.models import Judge, JudgeRanking, JudgeRun
from app.judges.parsing import (
    PairVerdicts,
    UnparseableOutput,
    parse_listwise,
    parse_verdict,
    ranking_from_pairs,
    storable,
    winner,
)
from app.judges.rubric import LABELS, listwise_message, pairwise_message, prompt_as_text
from app.judges.settings import resolve_judge_settings
from app.prompt_sets.models import Candidate, Prompt

log = logging.getLogger("ranklab.judges")


@dataclass
class Item:
    """One prompt to rank, with its candidates in presentation order."""

    prompt_id: int
    prompt: str
    candidate_ids: list[int]
    texts: list[str]


@dataclass
class Call:
    """One model call: a listwise order (labels -> candidate ids) or a pair verdict.
    `index` numbers the calls of one prompt (its sampling seed's, with the prompt id)."""

    item: Item
    message: str
    labels: dict[str, int] = field(default_factory=dict)
    index: int = 0


@dataclass
class Outcome:
    prompt_id: int
    ranking: list[list[int]] | None = None
    # The candidates the judge was shown: the outcome is dropped if any is gone by then.
    candidate_ids: list[int] = field(default_factory=list)
    raw_output: str | None = None
    error: str | None = None
    pairs_judged: int | None = None
    position_flips: int | None = None
    seconds_spent: float = 0.0


class JudgeWorker:
    def __init__(self, engine: Engine, app_settings: Settings, worker_id: str) -> None:
        self.engine = engine
        self.settings = app_settings
        self.sessionmaker = make_sessionmaker(engine)
        self.worker_id = worker_id
        self._held: int | None = None
        self._cancelled = threading.Event()
        self._backend: tuple[str, Backend] | None = None

    def run_once(self) -> bool:
        """Claim a run and rank one batch of its prompts (or finish it). False when no
        run is waiting."""
        run_id = self.claim()
        if run_id is None:
            return False
        self._held = run_id
        self._cancelled.clear()
        who = f"judge worker {self.worker_id}"
        try:
            with heartbeat(self.heartbeat, self.settings.worker_heartbeat_seconds, who):
                self.step(run_id)
        except (BackendUnavailable, AppError) as exc:
            self.fail_run(run_id, getattr(exc, "message", None) or str(exc))
        except Exception as exc:
            log.exception("judge run %s failed", run_id)
            self.fail_run(run_id, f"{type(exc).__name__}: {exc}")
        finally:
            self._held = None
        return True

    # -- claiming --------------------------------------------------------------------------

    def claim(self) -> int | None:
        stale_before = utcnow() - dt.timedelta(seconds=self.settings.worker_stale_seconds)
        with self.sessionmaker() as session:
            query = (
                select(JudgeRun)
                .where(
                    or_(
                        JudgeRun.status == "queued",
                        (JudgeRun.status == "running")
                        & or_(
                            JudgeRun.worker_id == self.worker_id,
                            JudgeRun.heartbeat_at < stale_before,
                        ),
                    )
                )
                .order_by(JudgeRun.id)
                .limit(1)
            )
            if not is_sqlite(self.engine):
                query = query.with_for_update(skip_locked=True)
            run = session.scalars(query).first()
            if run is None:
                session.rollback()
                return None
            now = utcnow()
            if run.worker_id not in (None, self.worker_id):
                log.warning("judge run %s: resuming after worker %s", run.id, run.worker_id)
            run.status, run.worker_id, run.heartbeat_at = "running", self.worker_id, now
            run.started_at = run.started_at or now
            session.commit()
            return run.id

    # -- one step ----------------------------------------------------------------------------

    def step(self, run_id: int) -> None:
        with self.sessionmaker() as session:
            run = session.get(JudgeRun, run_id)
            judge = session.get(Judge, run.judge_id) if run else None
            assert run is not None and judge is not None
            if run.status != "running" or run.worker_id != self.worker_id:
                return  # cancelled (or taken over) since the claim: no calls for nothing
            gen = resolve_judge_settings(judge.settings, self.settings)
            budget = self._budget(gen)
            pending = session.scalars(service.pending_prompts(judge, run_id).limit(budget)).all()
            remaining = service.count_pending(session, judge, run_id)
            run.total = run.done + run.failed + remaining
            session.commit()
            if not pending:
                self._finish(session, run)
                return
            items = _items(session, list(pending), gen.seed)
            mode, rubric = judge.mode, judge.rubric
            judge_id = judge.id
        calls = _batch(mode, rubric, items, budget)
        started = time.perf_counter()
        results = self._call(calls, gen)
        spent = (time.perf_counter() - started) / max(1, len({c.item.prompt_id for c in calls}))
        for outcome in _outcomes(mode, calls, results, gen.max_new_tokens):
            outcome.seconds_spent = round(spent, 3)
            self.write(run_id, judge_id, outcome)

    def _budget(self, gen: JobSettings) -> int:
        """Model calls per step: one batch of the local model, or two rounds of requests
        in flight for a server."""
        if gen.backend == "transformers":
            return gen.batch_sequences
        return self.settings.openai_concurrency * 2

    def _call(self, calls: list[Call], gen: JobSettings) -> list[PromptResult]:
        # The seed comes from the version's settings, the prompt and the call's number
        # within the prompt, never the batch position: a prompt gets the same samples
        # whichever prompts share its batch (issue 20, item 12).
        requests = [
            PromptRequest(
                i,
                [{"role": "user", "content": call.message}],
                [
                    CandidateSpec(
                        0, gen.seed_for(call.item.prompt_id, call.index), gen.temperature_for(0)
                    )
                ],
            )
            for i, call in enumerate(calls)
        ]
        try:
            return self._backend_for(gen).generate(requests)
        except BackendUnavailable:
            raise
        except BackendError as exc:  # this batch's calls fail; the run goes on
            return [PromptResult(r.key, error=str(exc)) for r in requests]

    def _backend_for(self, gen: JobSettings) -> Backend:
        key = gen.model_dump_json()
        if self._backend is None or self._backend[0] != key:
            backend = make_backend(gen, self.settings)
            backend.should_stop = self._cancelled.is_set
            self._backend = (key, backend)
        return self._backend[1]

    # -- writing ---------------------------------------------------------------------------

    def write(self, run_id: int, judge_id: int, outcome: Outcome) -> bool:
        """Store one prompt's judge ranking (or failure) and count it: one transaction."""
        with self.sessionmaker() as session:
            run = session.get(JudgeRun, run_id, with_for_update=not is_sqlite(self.engine))
            if run is None or run.status != "running" or run.worker_id != self.worker_id:
                session.rollback()  # cancelled, or taken over after we looked stale
                return False
            if not self._candidates_unchanged(session, outcome):
                session.rollback()  # regenerated meanwhile: the prompt is ranked again later
                return False
            row = session.scalar(
                select(JudgeRanking).where(
                    JudgeRanking.judge_id == judge_id, JudgeRanking.prompt_id == outcome.prompt_id
                )
            )
            if row is not None and row.status == "ranked":
                session.rollback()
                return False
            if row is None:
                row = JudgeRanking(judge_id=judge_id, prompt_id=outcome.prompt_id)
                session.add(row)
            row.run_id = run_id
            row.status = "ranked" if outcome.ranking is not None else "failed"
            row.ranking = outcome.ranking
            row.raw_output = storable(outcome.raw_output) if outcome.raw_output else None
            row.error = outcome.error[:2000] if outcome.error else None
            row.pairs_judged, row.position_flips = outcome.pairs_judged, outcome.position_flips
            row.seconds_spent, row.created_at = outcome.seconds_spent, utcnow()
            if outcome.ranking is not None:
                run.done += 1
                session.flush()
                figures.compute_ranking(session, row.id)  # against the people's, now
            else:
                run.failed += 1
            run.heartbeat_at = utcnow()
            session.commit()
            return True

    def _candidates_unchanged(self, session: Session, outcome: Outcome) -> bool:
        """Whether the candidates the judge was shown are still the prompt's. The prompt
        row is locked first (replacing candidates updates it), and the candidates are read
        after the lock is held, so a replacement either waits for this write, and deletes
        its row, or has committed and is seen here."""
        prompt = session.get(Prompt, outcome.prompt_id, with_for_update=not is_sqlite(self.engine))
        if prompt is None or not prompt.candidates_ready:
            return False
        current = set(session.scalars(select(Candidate.id).where(Candidate.prompt_id == prompt.id)))
        return set(outcome.candidate_ids) <= current

    def _finish(self, session: Session, run: JudgeRun) -> None:
        locked = session.get(JudgeRun, run.id, with_for_update=not is_sqlite(self.engine))
        if locked is None or locked.status != "running" or locked.worker_id != self.worker_id:
            session.rollback()
            return
        locked.status, locked.finished_at = "done", utcnow()
        if locked.failed:
            locked.error = (
                f"{locked.failed} of {locked.total} prompts could not be ranked; "
                "their judge output is listed under failures."
            )
        run_ended(session, locked)
        session.commit()

    def fail_run(self, run_id: int, message: str) -> None:
        """The judge cannot run at all (model missing, server unreachable): stop the run."""
        log.error("judge run %s failed: %s", run_id, message)
        self._backend = None
        with self.sessionmaker() as session:
            run = session.get(JudgeRun, run_id, with_for_update=not is_sqlite(self.engine))
            if run is None or run.status != "running" or run.worker_id != self.worker_id:
                session.rollback()
                return
            run.status, run.error, run.finished_at = "failed", message[:2000], utcnow()
            run_ended(session, run)
            session.commit()

    # -- heartbeat ---------------------------------------------------------------------------

    def heartbeat(self) -> None:
        run_id = self._held
        if run_id is None:
            return
        with self.sessionmaker() as session:
            run = session.get(JudgeRun, run_id)
            if run is None:
                return
            if run.status != "running" or run.worker_id != self.worker_id:
                self._cancelled.set()  # cancelled, or no longer ours: stop generating
            else:
                run.heartbeat_at = utcnow()
            session.commit()


def run_ended(session: Session, run: JudgeRun) -> None:
    """judge_job.finished or .failed, in the transaction that ends the run."""
    judge = session.get(Judge, run.judge_id)
    outcome = "finished" if run.status == "done" else "failed"
    data = {
        "run_id": run.id,
        "judge_id": run.judge_id,
        "prompt_set_id": judge.prompt_set_id if judge else None,
        "status": run.status,
        "total": run.total,
        "done": run.done,
        "failed": run.failed,
        "error": run.error,
    }
    outbox.emit(session, events.job_event("judge", outcome), data)


def _items(session: Session, prompt_ids: list[int], seed: int) -> list[Item]:
    """The prompts with their candidates, shown in an order shuffled per prompt (seeded,
    so a rerun shows the same), not in generation order."""
    prompts = {p.id: p for p in session.scalars(select(Prompt).where(Prompt.id.in_(prompt_ids)))}
    candidates: dict[int, list[tuple[int, str]]] = {pid: [] for pid in prompt_ids}
    for cid, pid, text in session.execute(
        select(Candidate.id, Candidate.prompt_id, Candidate.text)
        .where(Candidate.prompt_id.in_(prompt_ids))
        .order_by(Candidate.position)
    ):
        candidates[pid].append((cid, text))
    items = []
    for pid in prompt_ids:
        shown = candidates[pid][: len(LABELS)]
        random.Random(seed * 1_000_003 + pid).shuffle(shown)
        prompt = prompts[pid]
        items.append(
            Item(
                pid,
                prompt_as_text(prompt.text, prompt.messages),
                [c for c, _ in shown],
                [t for _, t in shown],
            )
        )
    return items


def _batch(mode: str, rubric: str, items: list[Item], budget: int) -> list[Call]:
    """Calls for as many prompts as fit the budget (at least one prompt)."""
    calls: list[Call] = []
    for item in items:
        more = _calls(mode, rubric, item)
        if calls and len(calls) + len(more) > budget:
            break
        calls.extend(more)
    return calls


def _calls(mode: str, rubric: str, item: Item) -> list[Call]:
    if mode == "listwise":
        labels = dict(zip(LABELS, item.candidate_ids, strict=False))
        return [Call(item, listwise_message(rubric, item.prompt, item.texts), labels)]
    calls: list[Call] = []
    text = dict(zip(item.candidate_ids, item.texts, strict=True))
    for x, y in combinations(item.candidate_ids, 2):
        for a, b in ((x, y), (y, x)):
            message = pairwise_message(rubric, item.prompt, text[a], text[b])
            calls.append(Call(item, message, {"A": a, "B": b}, index=len(calls)))
    return calls


def _outcomes(
    mode: str, calls: list[Call], results: list[PromptResult], max_new_tokens: int
) -> list[Outcome]:
    """Each prompt's ranking from its calls' answers, or its failure with the raw text."""
    by_prompt: dict[int, list[tuple[Call, PromptResult]]] = {}
    for call, result in zip(calls, sorted(results, key=lambda r: r.key), strict=True):
        by_prompt.setdefault(call.item.prompt_id, []).append((call, result))
    return [_outcome(mode, answered, max_new_tokens) for answered in by_prompt.values()]


def _outcome(mode: str, answered: list[tuple[Call, PromptResult]], max_new_tokens: int) -> Outcome:
    item = answered[0][0].item
    outcome = _judged(mode, item.prompt_id, answered, max_new_tokens)
    outcome.candidate_ids = item.candidate_ids
    return outcome


def _judged(
    mode: str, pid: int, answered: list[tuple[Call, PromptResult]], max_new_tokens: int
) -> Outcome:
    failed = next((r.error for _, r in answered if r.error), None)
    raw = _raw(mode, answered)
    if failed:
        return Outcome(pid, raw_output=raw or None, error=f"backend: {failed}")
    cut = _cut_off(mode, answered)
    if cut is not None:
        # An answer stopped by its token limit is not a verdict, even when a prefix of
        # it parses as one (issue 20, item 12).
        return Outcome(
            pid,
            raw_output=raw,
            error=f"cut off: {cut}the answer reached max_new_tokens ({max_new_tokens}) "
            "before it ended; raise settings.max_new_tokens",
        )
    try:
        return _ranked(mode, pid, answered, raw)
    except UnparseableOutput as exc:
        return Outcome(pid, raw_output=raw, error=f"unparseable: {exc}")


def _cut_off(mode: str, answered: list[tuple[Call, PromptResult]]) -> str | None:
    """None when every answer ended on its own; else which pair's answer was cut ("" in
    listwise mode)."""
    for call, result in answered:
        if any(o.finish_reason == "length" for o in result.outputs):
            if mode == "listwise":
                return ""
            return f"A = candidate {call.labels['A']}, B = candidate {call.labels['B']}: "
    return None


def _text(result: PromptResult) -> str:
    return result.outputs[0].text if result.outputs else ""


def _raw(mode: str, answered: list[tuple[Call, PromptResult]]) -> str:
    if mode == "listwise":
        return _text(answered[0][1])
    return "\n\n".join(
        f"--- A = candidate {c.labels['A']}, B = candidate {c.labels['B']}:\n{_text(r)}"
        for c, r in answered
        if not r.error
    )


def _ranked(
    mode: str, prompt_id: int, answered: list[tuple[Call, PromptResult]], raw: str
) -> Outcome:
    if mode == "listwise":
        call, result = answered[0]
        groups = parse_listwise(_text(result), list(call.labels))
        ranking = [[call.labels[label] for label in group] for group in groups]
        return Outcome(prompt_id, ranking=ranking, raw_output=raw)
    verdicts: dict[tuple[int, int], list[int | None]] = {}
    for call, result in answered:
        a, b = call.labels["A"], call.labels["B"]
        try:
            verdict = parse_verdict(_text(result))
        except UnparseableOutput as exc:
            raise UnparseableOutput(f"A = candidate {a}, B = candidate {b}: {exc}") from None
        # Keyed by the pair as first shown, so PairVerdicts.first was A in its first call.
        key = (b, a) if (b, a) in verdicts else (a, b)
        verdicts.setdefault(key, []).append(winner(verdict, a, b))
    pairs = [PairVerdicts(x, y, first, second) for (x, y), (first, second) in verdicts.items()]
    ids = answered[0][0].item.candidate_ids
    return Outcome(
        prompt_id,
        ranking=ranking_from_pairs(ids, pairs),
        raw_output=raw,
        pairs_judged=len(pairs),
        position_flips=sum(p.flipped for p in pairs),
    )
