"""Arena benchmarks: generators sharing a job, a pipeline's batching, the leaderboard.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python bench/arena.py leaderboard [--comparisons 1000000]
    PYTHONPATH=. HF_HUB_OFFLINE=1 python bench/arena.py generation [--prompts 16] [--tokens 32]

`leaderboard` times app.analytics.leaderboard on synthetic comparisons (8 generators,
random styles) and reports the process's peak RSS growth. `generation` runs real jobs
through the worker on a temporary SQLite database with the bundled model: one generator,
two generators (two temperatures) and a draft -> critique -> revise pipeline, and prints
tokens/s from the job record, candidates per minute and the sequences per backend call.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_leaderboard(comparisons: int, generators: int) -> None:
    from app.analytics.leaderboard import Duels, leaderboard

    rng = np.random.default_rng(0)
    skill = np.linspace(-1, 1, generators)
    a = rng.integers(0, generators, comparisons)
    b = (a + rng.integers(1, generators, comparisons)) % generators
    style_a = rng.gamma(2.0, [400, 1, 4, 1], size=(comparisons, 4)).astype(np.float32)
    style_b = rng.gamma(2.0, [400, 1, 4, 1], size=(comparisons, 4)).astype(np.float32)
    length = (style_a[:, 0] - style_b[:, 0]) / (style_a[:, 0] + style_b[:, 0] + 1)
    a_wins = rng.random(comparisons) < 1 / (1 + np.exp(-(skill[a] - skill[b] + 0.8 * length)))
    duels = Duels(
        [f"gen-{i}" for i in range(generators)],
        np.where(a_wins, a, b),
        np.where(a_wins, b, a),
        np.where(a_wins[:, None], style_a, style_b),
        np.where(a_wins[:, None], style_b, style_a),
        rng.integers(0, 5, comparisons),
        ("code", "chat", "math", "writing", "other"),
    )
    del a, b, style_a, style_b, length, a_wins
    before = _rss_mb()
    started = time.perf_counter()
    board = leaderboard(duels)
    seconds = time.perf_counter() - started
    print(f"leaderboard: {comparisons:,} comparisons, {generators} generators, 5 categories")
    print(
        f"  time {seconds:.2f} s; peak RSS {_rss_mb():.0f} MB (input arrays held: {before:.0f} MB)"
    )
    top = board["generators"][0]
    print(
        f"  top raw {top['generator']} {top['strength']:+.3f}; styled "
        f"{top['styled_strength']:+.3f}; length coefficient "
        f"{board['style_coefficients']['length']:+.3f} (true 0.8)"
    )


def _job(tmp: Path, name: str, generators: list[dict[str, Any]], prompts: int, k: int) -> None:
    from sqlalchemy import select

    from app.core.config import Settings
    from app.core.db import make_engine, make_sessionmaker
    from app.core.migrate import upgrade
    from app.demo_prompts import DEMO_PROMPTS
    from app.generation import service
    from app.generation.backends.transformers import TransformersBackend
    from app.generation.models import GenerationJob
    from app.generation.worker import Worker
    from app.prompt_sets.content import content_hash
    from app.prompt_sets.models import Candidate, Prompt, PromptSet

    url = f"sqlite:///{tmp / f'{name}.db'}"
    upgrade(url)
    engine = make_engine(url)
    settings = Settings(
        # A data folder whose models/ holds the converted model (the model tests' cache),
        # so the bench times generation, not the one-off GGUF conversion.
        data_dir=Path(os.environ.get("RANKLAB_BENCH_DATA", ".pytest_cache/d/ranklab-models")),
        database_url=url,
        secret_key="x" * 48,
    )
    with make_sessionmaker(engine)() as session:
        ps = PromptSet(name=name, candidates_per_prompt=k, generators=generators)
        session.add(ps)
        session.flush()
        texts = [r["text"] for r in DEMO_PROMPTS if r.get("text")]
        for i in range(prompts):
            text = texts[i % len(texts)] + f" ({i})"
            session.add(
                Prompt(prompt_set_id=ps.id, text=text, content_hash=content_hash(text, None))
            )
        session.commit()
        job = service.start_generation(
            session, prompt_set_id=ps.id, created_by_id=None, app_settings=settings
        )
        job_id = job.id
    calls: list[int] = []
    original = TransformersBackend.generate

    def counting(self: TransformersBackend, requests: list) -> list:
        calls.append(sum(len(r.candidates) for r in requests))
        return original(self, requests)

    TransformersBackend.generate = counting  # type: ignore[method-assign]
    worker = Worker(engine, settings)
    worker._backend_for(worker_settings(generators))  # load the model before timing
    started = time.perf_counter()
    while worker.run_once():
        pass
    seconds = time.perf_counter() - started
    TransformersBackend.generate = original  # type: ignore[method-assign]
    with make_sessionmaker(engine)() as session:
        done = session.get(GenerationJob, job_id)
        assert done is not None
        n = len(session.scalars(select(Candidate.id)).all())
        print(
            f"{name:>14}: {done.status}, {n} candidates in {seconds:.1f} s = "
            f"{n / seconds * 60:.1f} candidates/min; job record {done.tokens_per_second or 0:.1f} "
            f"tokens/s ({done.tokens_generated} tokens); sequences per backend call: "
            f"median {statistics.median(calls):.0f}, max {max(calls)}, calls {len(calls)}"
        )
    engine.dispose()


def worker_settings(generators: list[dict[str, Any]]) -> Any:
    from app.generation.config import JobSettings

    first = next(g for g in generators if "settings" in g)
    return JobSettings(model="smollm2", **first["settings"])


def bench_generation(prompts: int, tokens: int, k: int) -> None:
    import torch

    print(f"torch threads {torch.get_num_threads()}, cpu count {os.cpu_count()}")
    common = {"max_new_tokens": tokens, "batch_sequences": 32}
    one = [{"name": "solo", "settings": {**common, "temperature": 0.8}}]
    two = [
        {"name": "cool", "settings": {**common, "temperature": 0.5}},
        {"name": "warm", "settings": {**common, "temperature": 1.0}},
    ]
    team = [
        {"name": "a", "competes": False, "settings": {**common, "temperature": 0.7}},
        {
            "name": "team",
            "pipeline": {"recipe": "draft_critique_revise", "drafter": "a", "critic": "a"},
        },
    ]
    with tempfile.TemporaryDirectory() as tmp:
        _job(Path(tmp), "one generator", one, prompts, k)
        _job(Path(tmp), "two generators", two, prompts, k)
        _job(Path(tmp), "pipeline", team, max(prompts // 2, 1), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["leaderboard", "generation"])
    parser.add_argument("--comparisons", type=int, default=1_000_000)
    parser.add_argument("--generators", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--candidates", type=int, default=4)
    args = parser.parse_args()
    if args.what == "leaderboard":
        bench_leaderboard(args.comparisons, args.generators)
    else:
        bench_generation(args.prompts, args.tokens, args.candidates)


if __name__ == "__main__":
    main()
