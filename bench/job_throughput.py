"""Job-level generation throughput against the batched bench, in the same run (issue 14.6).

    PYTHONPATH=$PWD python bench/job_throughput.py [--tokens 256] [--candidates 4]
        [--mixed-prompts 100] [--two-generators] [--seconds 15]

On a throwaway PostgreSQL database (RANKLAB_BENCH_POSTGRES_URL, as bench/annotate.py) it
seeds an annotation set (ready candidates) and the generation sets: the demo prompts, and
`--mixed-prompts` prompts of mixed lengths (a question alone, or behind one to twelve
paragraphs of context). It starts the real `ranklab serve` with its in-process worker,
measures annotation (bench/annotate.py's clients, submit-and-next) while idle, queues each
set's job and reads tokens/s from the job record while sampling the server's RSS, measures
annotation again during the first job, and reads the idle RSS once the worker has unloaded
its model. A one-prompt warm-up job first lets the worker import torch and load the model
(its time is printed), so the measured jobs time generation. The batched bench
(bench/generation.py: 8 demo prompts x 4 candidates, equal settings) runs before and after
the jobs with the worker's thread count; the ratio is the job's tokens/s over their mean.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import app.models  # noqa: E402,F401
from app.core.config import Settings  # noqa: E402
from app.core.db import make_engine  # noqa: E402
from app.demo_prompts import DEMO_PROMPTS  # noqa: E402
from app.generation import service  # noqa: E402
from app.generation.models import GenerationJob  # noqa: E402
from app.prompt_sets.content import content_hash  # noqa: E402
from app.prompt_sets.models import Prompt, PromptSet  # noqa: E402
from bench.annotate import fresh_database, measure, seed  # noqa: E402
from tests.support.server import ranklab_env, start_server  # noqa: E402

DB_NAME = "ranklab_bench_jobs"
IDLE_UNLOAD_SECONDS = 10
CONTEXT = (
    "Background note {n}: the committee reviewed the proposal, the budget and the "
    "timeline, and asked for a clearer account of the risks before the next meeting."
)


def mixed_prompts(count: int) -> list[str]:
    """Questions alone or behind 1-12 paragraphs of context: ~20 to ~500 prompt tokens."""
    questions = [r["text"] for r in DEMO_PROMPTS if r.get("text")]
    out = []
    for i in range(count):
        paragraphs = [CONTEXT.format(n=n) for n in range((i * 7) % 13)]
        out.append("\n\n".join([*paragraphs, f"{questions[i % len(questions)]} ({i})"]))
    return out


def add_set(
    session: Session, name: str, texts: list[str], k: int, generators: list[dict[str, Any]]
) -> int:
    ps = PromptSet(name=name, candidates_per_prompt=k, generators=generators)
    session.add(ps)
    session.flush()
    for text in texts:
        session.add(Prompt(prompt_set_id=ps.id, text=text, content_hash=content_hash(text, None)))
    session.flush()
    return ps.id


class RssSampler(threading.Thread):
    """The server process's RSS every 0.2 s; `peak` in MiB."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0.0
        self.halt = threading.Event()

    def now(self) -> float:
        return self.proc.memory_info().rss / 2**20

    def run(self) -> None:
        while not self.halt.wait(0.2):
            self.peak = max(self.peak, self.now())


def run_job(url: str, settings: Settings, set_id: int) -> GenerationJob:
    engine = make_engine(url)
    with Session(engine) as session:
        job_id = service.start_generation(
            session, prompt_set_id=set_id, created_by_id=None, app_settings=settings
        ).id
    while True:
        time.sleep(1)
        with Session(engine) as session:
            job = session.get(GenerationJob, job_id)
            assert job is not None
            if job.status not in ("queued", "running"):
                engine.dispose()
                return job


def batched_bench(threads: int, tokens: int) -> float:
    """bench/generation.py's batched figure (32 sequences, one pass) in this process."""
    import torch

    from app.generation.backends.transformers import loaded_model, pick_dtype, unload_models
    from app.generation.config import JobSettings
    from bench.generation import requests, throughput

    torch.set_num_threads(threads)
    home = Path(os.environ.get("RANKLAB_BENCH_DATA", ".pytest_cache/d/ranklab-models"))
    lm, tokenizer, _src, _info = loaded_model("smollm2", home / "models", pick_dtype("auto"))
    gen = JobSettings(max_new_tokens=tokens, candidates_per_prompt=4, batch_sequences=32)
    rate, count, seconds = throughput(lm, tokenizer, gen, requests(gen, 8))
    print(f"batched bench: {rate:.1f} tokens/s ({count} tokens, {seconds:.1f} s)", flush=True)
    unload_models()
    return rate


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def annotate(base_url: str, tokens: list[str], set_id: int, seconds: float, what: str) -> None:
    for clients in (1, 8):
        r = asyncio.run(measure(base_url, tokens[1 : clients + 1], set_id, seconds, "next"))
        if not r["cycles"]:
            print(f"annotate {what}, {clients} clients: no item in {seconds} s", flush=True)
            continue
        print(
            f"annotate {what}, {clients} clients: {r['per_second']:.1f} items/s, p50 "
            f"{r['cycle_p50']:.1f} ms, p95 {r['cycle_p95']:.1f} ms (load {load()})",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=256, help="max_new_tokens of the jobs")
    parser.add_argument("--bench-tokens", type=int, default=64, help="the batched bench's")
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--mixed-prompts", type=int, default=100)
    parser.add_argument(
        "--two-generators", action="store_true", help="also the demo set, T 0.5 + 1.0"
    )
    parser.add_argument("--seconds", type=float, default=15, help="per annotation measurement")
    args = parser.parse_args()
    threads = max(1, (os.cpu_count() or 1) - 1)  # the in-process worker's default
    admin = os.environ.get(
        "RANKLAB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    url = fresh_database(admin, DB_NAME)
    ann_set, tokens = seed(url, 3000, 9)
    common = {"max_new_tokens": args.tokens, "temperature": 0.8}
    one = [{"name": "solo", "settings": common}]
    two = [
        {"name": "cool", "settings": {**common, "temperature": 0.5}},
        {"name": "warm", "settings": {**common, "temperature": 1.0}},
    ]
    demo = [r["text"] for r in DEMO_PROMPTS if r.get("text")]
    engine = make_engine(url)
    with Session(engine) as session:
        warm = add_set(session, "warm-up", demo[:1], 2, one)
        jobs = [("demo set", add_set(session, "demo", demo, args.candidates, one))]
        if args.mixed_prompts:
            texts = mixed_prompts(args.mixed_prompts)
            jobs.append(("mixed set", add_set(session, "mixed", texts, args.candidates, one)))
        if args.two_generators:
            jobs.append(("demo, 2 generators", add_set(session, "two", demo, args.candidates, two)))
        session.commit()
    engine.dispose()
    print(f"torch threads {threads}, cpu count {os.cpu_count()}, load {load()}", flush=True)
    before = batched_bench(threads, args.bench_tokens)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(os.environ.get("RANKLAB_BENCH_DATA", ".pytest_cache/d/ranklab-models"))
        env = ranklab_env(
            data.resolve(),
            url,
            RANKLAB_RUN_WORKER_IN_PROCESS="true",
            RANKLAB_GENERATION_IDLE_UNLOAD_SECONDS=str(IDLE_UNLOAD_SECONDS),
        )
        server = start_server(env, Path(tmp) / "server.log")
        settings = Settings(data_dir=data, database_url=url, secret_key="x" * 48)
        try:
            rss = RssSampler(server.process.pid)
            print(f"server RSS at start: {rss.now():.0f} MiB", flush=True)
            annotate(server.base_url, tokens, ann_set, args.seconds, "idle")
            rss.start()
            started = time.perf_counter()
            run_job(url, settings, warm)  # the worker imports torch and loads the model
            print(f"warm-up job (1 prompt): {time.perf_counter() - started:.0f} s", flush=True)
            results = []
            for i, (name, set_id) in enumerate(jobs):
                during = None
                if i == 0:  # annotation while the first job runs (after its model loads)
                    during = threading.Thread(
                        target=lambda: (
                            time.sleep(10),
                            annotate(server.base_url, tokens, ann_set, args.seconds, "during job"),
                        )
                    )
                    during.start()
                started = time.perf_counter()
                job = run_job(url, settings, set_id)
                if during:
                    during.join()
                results.append((name, job))
                print(
                    f"{name}: {job.status}, {job.done} prompts, {job.tokens_generated} tokens in "
                    f"{time.perf_counter() - started:.0f} s; job record "
                    f"{job.tokens_per_second or 0:.1f} tokens/s (load {load()}); "
                    f"server RSS peak so far {rss.peak:.0f} MiB",
                    flush=True,
                )
            time.sleep(IDLE_UNLOAD_SECONDS + 5)
            idle = rss.now()
            rss.halt.set()
            print(f"server RSS: peak {rss.peak:.0f} MiB, idle after the jobs {idle:.0f} MiB")
        finally:
            server.stop()
    after = batched_bench(threads, args.bench_tokens)
    mean = (before + after) / 2
    for name, job in results:
        rate = job.tokens_per_second or 0
        print(f"ratio {name}: {rate:.1f} / {mean:.1f} = {rate / mean:.2f} (load {load()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
