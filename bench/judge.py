"""Judge throughput: rankings per minute through the judge worker, listwise and pairwise,
with the bundled SmolLM2 on this machine and through the OpenAI-compatible backend against
the local test server (tests/support/openai_server.py, answers at once unless --latency).

    PYTHONPATH=. HF_HUB_OFFLINE=1 python bench/judge.py [--prompts 20] [--candidates 4]
        [--tokens 8] [--threads 1] [--backends transformers,openai] [--modes listwise,pairwise]

Each case runs a real run end to end: a fresh SQLite database, the run queued by the
service, JudgeWorker steps until idle, every ranking written in its own transaction. The
prompts are the demo prompts; the candidates are fixed answers of 20-60 words (the judge
reads prompt + candidates, so their length sets the cost). The model is loaded (and its
GGUF converted, cached under the data folder) before the clock starts.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from app.core import migrate  # noqa: E402
from app.core.config import Settings  # noqa: E402
from app.core.db import make_engine, make_sessionmaker  # noqa: E402
from app.demo_prompts import DEMO_PROMPTS  # noqa: E402
from app.generation.backends.transformers import loaded_model, pick_dtype  # noqa: E402
from app.judges import service  # noqa: E402
from app.judges.models import JudgeRanking, JudgeRun  # noqa: E402
from app.judges.schemas import JudgeIn  # noqa: E402
from app.judges.worker import JudgeWorker  # noqa: E402
from app.prompt_sets.content import content_hash  # noqa: E402
from app.prompt_sets.models import Candidate, Prompt, PromptSet  # noqa: E402
from tests.support.openai_server import ChatServer  # noqa: E402

SENTENCES = [
    "The short answer is yes, with a few caveats worth knowing.",
    "Start with the basics and build up one step at a time.",
    "Most people get this wrong because they skip the first step.",
    "A good rule of thumb is to measure before you change anything.",
    "In practice the simplest option works well for most cases.",
    "If that fails, check the settings and try again with less load.",
]


def seed(url: str, prompts: int, candidates: int) -> int:
    with make_sessionmaker(make_engine(url))() as session:
        ps = PromptSet(name="judge-bench", candidates_per_prompt=candidates)
        session.add(ps)
        session.flush()
        for i in range(prompts):
            row = DEMO_PROMPTS[i % len(DEMO_PROMPTS)]
            text, messages = row.get("text"), row.get("messages")
            if messages:  # a distinct prompt each time round the demo list
                *head, last = messages
                text, messages = None, [*head, {**last, "content": f"{last['content']} (#{i})"}]
            else:
                text = f"{text} (#{i})"
            prompt = Prompt(
                prompt_set_id=ps.id,
                text=text,
                messages=messages,
                content_hash=content_hash(text, messages),
                candidates_ready=True,
            )
            session.add(prompt)
            session.flush()
            for j in range(candidates):
                words = " ".join(SENTENCES[(i + j + k) % len(SENTENCES)] for k in range(j + 2))
                session.add(Candidate(prompt_id=prompt.id, position=j, text=words, model="bench"))
        session.commit()
        return ps.id


def judge_reply(body: dict[str, Any]) -> str:
    """The test server as a judge: the longest answer first, or the longer of a pair."""
    message = body["messages"][-1]["content"]
    blocks = dict(re.findall(r"^\[([A-H])\]\n(.+)$", message, re.M))  # one-line answers
    order = sorted(blocks, key=lambda label: -len(blocks[label]))
    return order[0] if len(blocks) == 2 else " > ".join(order)


def run_case(
    url: str, app_settings: Settings, prompt_set_id: int, mode: str, settings: dict[str, Any]
) -> dict[str, Any]:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        judge = service.create_judge(
            session,
            prompt_set_id=prompt_set_id,
            data=JudgeIn.model_validate(
                {"name": f"{mode}-{settings['backend']}", "mode": mode, "settings": settings}
            ),
            created_by_id=None,
            app_settings=app_settings,
        )
        run = service.queue_run(
            session,
            prompt_set_id=prompt_set_id,
            judge_id=judge.id,
            created_by_id=None,
            app_settings=app_settings,
        )
        run_id, judge_id = run.id, judge.id
    worker = JudgeWorker(engine, app_settings, "bench")
    started = time.perf_counter()
    while worker.run_once():
        pass
    seconds = time.perf_counter() - started
    with make_sessionmaker(engine)() as session:
        run = session.get(JudgeRun, run_id)
        pairs, flips = session.execute(
            select(
                func.coalesce(func.sum(JudgeRanking.pairs_judged), 0),
                func.coalesce(func.sum(JudgeRanking.position_flips), 0),
            ).where(JudgeRanking.judge_id == judge_id)
        ).one()
        out = {"status": run.status, "ranked": run.done, "failed": run.failed}
        failure = session.scalars(
            select(JudgeRanking).where(
                JudgeRanking.judge_id == judge_id, JudgeRanking.status == "failed"
            )
        ).first()
        out["sample_failure"] = (
            f"{failure.error[:100]!r}; said {(failure.raw_output or '')[:100]!r}"
            if failure
            else None
        )
    engine.dispose()
    finished = out["ranked"] + out["failed"]
    return {
        **out,
        "seconds": seconds,
        "per_minute": 60 * finished / seconds,
        "ranked_per_minute": 60 * out["ranked"] / seconds,
        "flip_rate": flips / pairs if pairs else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=8, help="max_new_tokens per judge call")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--batch", type=int, default=32, help="batch_sequences (local model)")
    parser.add_argument("--latency", type=float, default=0.0, help="test server delay (s)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--backends", default="transformers,openai")
    parser.add_argument("--modes", default="listwise,pairwise")
    args = parser.parse_args()

    server = ChatServer(reply=judge_reply)
    if args.latency:
        server.default = ("sleep", args.latency)
    server.start()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"{args.prompts} prompts x {args.candidates} candidates, max_new_tokens {args.tokens}")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(os.environ.get("RANKLAB_DATA_DIR") or Path(tmp) / "data")
        for backend in args.backends.split(","):
            settings: dict[str, Any] = {"backend": backend, "max_new_tokens": args.tokens}
            if backend == "transformers":
                settings["batch_sequences"] = args.batch
                loaded_model("smollm2", data / "models", pick_dtype("auto"))
            for mode in args.modes.split(","):
                url = f"sqlite:///{tmp}/{backend}-{mode}.db"
                migrate.upgrade(url)
                app_settings = Settings(
                    data_dir=data,
                    database_url=url,
                    secret_key="x" * 48,
                    generation_threads=args.threads,
                    openai_base_url=server.base_url,
                    openai_model="bench-judge",
                    openai_concurrency=args.concurrency,
                )
                ps_id = seed(url, args.prompts, args.candidates)
                r = run_case(url, app_settings, ps_id, mode, settings)
                flips = f"{r['flip_rate']:.2f}" if r["flip_rate"] is not None else "-"
                print(
                    f"{backend:12} {mode:8} {r['status']:5} ranked {r['ranked']:3} "
                    f"failed {r['failed']:3} in {r['seconds']:7.1f} s: "
                    f"{r['per_minute']:7.1f} prompts/min ({r['ranked_per_minute']:7.1f} ranked/min)"
                    f", flip rate {flips}",
                    flush=True,
                )
                if r["sample_failure"]:
                    print(f"  e.g. {r['sample_failure']}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    server.stop()


if __name__ == "__main__":
    main()
