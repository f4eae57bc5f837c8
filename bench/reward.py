"""Benchmark: the fast reward model's costs on this machine.

    PYTHONPATH=$PWD python bench/reward.py [--prompts 10000] [--threads 2] [--skip-model]

1. embedding throughput (tokens/s) of the bundled SmolLM2 backbone, batched, on (prompt,
   candidate) chats like a demo set's;
2. fitting the Bradley-Terry head (C chosen on validation + ensemble of 4) on 10,000
   comparisons of 576-dimensional embeddings;
3. scoring 10,000 candidates whose embeddings are cached, on PostgreSQL: the whole
   `compute_scores` (read the set, render chats to check the cache, read vectors, matrix
   product) and the part after the set is read (vectors -> scores -> rows written);
4. refreshing uncertain_first priorities for `--prompts` prompts (4 candidates each).

Seeds a throwaway database `ranklab_bench_reward` on RANKLAB_BENCH_POSTGRES_URL (default:
postgres on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotate import fresh_database  # noqa: E402  (bench/, the script's folder)

import app.models  # noqa: E402,F401
from app.core.config import Settings  # noqa: E402
from app.core.db import make_engine  # noqa: E402
from app.prompt_sets.content import content_hash  # noqa: E402
from app.prompt_sets.models import Candidate, Prompt, PromptSet  # noqa: E402
from app.reward import backbone as bb  # noqa: E402
from app.reward import embeddings  # noqa: E402
from app.reward.head import fit_head  # noqa: E402
from app.reward.models import CandidateEmbedding, CandidateScore, RewardModel  # noqa: E402
from app.reward.routing import refresh_priorities  # noqa: E402
from app.reward.scoring import compute_scores, scores_from_head, write_scores  # noqa: E402

DB_NAME = "ranklab_bench_reward"
DIM = 576


def bench_embedding(settings: Settings, n: int = 64) -> None:
    lm, tokenizer = bb.load_backbone("smollm2", settings)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    answer = "Water boils at 100 degrees Celsius at sea level, and lower on a mountain. " * 3
    texts = [
        bb.chat_text(
            tokenizer, [{"role": "user", "content": f"Question {i}: tell me a fact."}], answer
        )
        for i in range(n)
    ]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    for batch, count in ((1, 8), (16, n)):
        bb.embed_texts(
            lm, tokenizer, texts[:batch], pooling="last", max_length=512, batch_size=batch
        )
        t0 = time.perf_counter()
        bb.embed_texts(
            lm, tokenizer, texts[:count], pooling="last", max_length=512, batch_size=batch
        )
        dt = time.perf_counter() - t0
        tokens = sum(lengths[:count])
        print(
            f"embedding: {count} chats, {tokens} tokens, batch {batch}: {dt:.2f} s, "
            f"{tokens / dt:.0f} tokens/s, {count / dt:.1f} candidates/s",
            flush=True,
        )


def bench_head(pairs: int = 10_000) -> None:
    rng = np.random.default_rng(0)
    direction = rng.normal(size=DIM)
    items = rng.normal(size=(pairs // 2, DIM)) * rng.lognormal(0, 1, size=DIM)
    a, b = rng.integers(0, len(items), pairs), rng.integers(0, len(items), pairs)
    utility = items @ direction
    utility *= 2.0 / utility.std()
    # Bradley-Terry labels: close items are often swapped, as with real annotators.
    a_wins = rng.random(pairs) < 1 / (1 + np.exp(-(utility[a] - utility[b])))
    chosen, rejected = np.where(a_wins, a, b), np.where(a_wins, b, a)
    validation = rng.random(pairs) < 0.15
    fit_head(
        items[chosen[:500]],
        items[rejected[:500]],
        np.ones(500),
        validation[:500],
        ensemble=1,
        seed=0,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    head = fit_head(items[chosen], items[rejected], np.ones(pairs), validation, ensemble=4, seed=0)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    acc = ((items[chosen] - items[rejected]) @ head.weights[0] > 0).mean()
    truth = (utility[chosen] > utility[rejected]).mean()
    print(
        f"head: {pairs} comparisons x {DIM} dims, C grid of 4 + full fit + 4 bootstrap heads: "
        f"{dt:.2f} s wall, {cpu:.2f} s CPU (chosen C {head.c}, training accuracy "
        f"{acc:.3f}; the true utility orders {truth:.3f} of these labels)",
        flush=True,
    )


def seed(url: str, prompts: int, with_embeddings: bool, settings: Settings) -> tuple[int, int]:
    engine = make_engine(url)
    rng = np.random.default_rng(1)
    with Session(engine) as session:
        ps = PromptSet(name=f"bench-{prompts}", candidates_per_prompt=4, routing="uncertain_first")
        session.add(ps)
        session.flush()
        session.execute(
            insert(Prompt),
            [
                {
                    "prompt_set_id": ps.id,
                    "text": f"Bench prompt {i}",
                    "content_hash": content_hash(f"Bench prompt {i}", None),
                    "candidates_ready": True,
                    "meta": {},
                }
                for i in range(prompts)
            ],
        )
        ids = session.scalars(select(Prompt.id).where(Prompt.prompt_set_id == ps.id)).all()
        session.execute(
            insert(Candidate),
            [
                {"prompt_id": pid, "position": j, "text": f"Answer {j} to {pid}", "model": "m"}
                for pid in ids
                for j in range(4)
            ],
        )
        version = RewardModel(
            prompt_set_id=ps.id,
            kind="fast",
            backbone="smollm2",
            status="done",
            options={"backbone": "smollm2", "pooling": "last", "test_fraction": 0.1},
        )
        session.add(version)
        session.flush()
        if with_embeddings:
            from app.reward.data import load_set_data

            data = load_set_data(session, ps.id, test_fraction=0.1, validation_fraction=0.15)
            chats = embeddings.candidate_chats(
                data.candidates,
                data.prompts,
                "",
                data.candidates,
                embeddings.tokenizer_for("smollm2"),
            )
            key = bb.backbone_key("smollm2")
            session.execute(
                insert(CandidateEmbedding),
                [
                    {
                        "candidate_id": cid,
                        "backbone": key,
                        "pooling": "last",
                        "input_hash": bb.input_hash(chat),
                        "dim": DIM,
                        "vector": rng.normal(size=DIM).astype("<f4").tobytes(),
                    }
                    for cid, chat in chats.items()
                ],
            )
            folder = Path(settings.data_dir) / "head"
            folder.mkdir(parents=True, exist_ok=True)
            np.savez(folder / "head.npz", weights=rng.normal(size=(5, DIM)), scale=np.ones(DIM))
            version.artifact_path = str(folder)
        session.commit()
        return ps.id, version.id


def bench_scoring(url: str, settings: Settings, prompts: int) -> None:
    set_id, version_id = seed(url, prompts, True, settings)
    engine = make_engine(url)
    with Session(engine) as session:
        version = session.get(RewardModel, version_id)
        cids = session.scalars(
            select(Candidate.id).join(Prompt).where(Prompt.prompt_set_id == set_id)
        ).all()
        compute_scores(session, version, list(cids), settings)  # warm: tokenizer, imports
        session.rollback()
        t0, c0 = time.perf_counter(), time.process_time()
        scores = compute_scores(session, version, list(cids), settings)
        t1, c1 = time.perf_counter(), time.process_time()
        write_scores(session, version_id, scores, replace=True)
        session.commit()
        t2 = time.perf_counter()
        rows = session.execute(
            select(CandidateEmbedding.candidate_id, CandidateEmbedding.vector)
        ).all()
        vectors = {r[0]: np.frombuffer(r[1], dtype="<f4") for r in rows}
        weights = np.load(Path(version.artifact_path) / "head.npz")["weights"]
        scores_from_head(weights, vectors)
        t3 = time.perf_counter()
        print(
            f"scoring {len(cids)} cached candidates: compute_scores {t1 - t0:.2f} s "
            f"({c1 - c0:.2f} s CPU here) "
            f"(read set + render chats + cache check + vectors + matmul), writing scores "
            f"{t2 - t1:.2f} s; vectors read + matmul alone {t3 - t2:.2f} s",
            flush=True,
        )
    engine.dispose()


def bench_priorities(url: str, settings: Settings, prompts: int) -> None:
    set_id, version_id = seed(url, prompts, False, settings)
    engine = make_engine(url)
    rng = np.random.default_rng(2)
    with Session(engine) as session:
        cids = session.scalars(
            select(Candidate.id).join(Prompt).where(Prompt.prompt_set_id == set_id)
        ).all()
        session.execute(
            insert(CandidateScore),
            [
                {"reward_model_id": version_id, "candidate_id": c, "score": float(s), "spread": 0.1}
                for c, s in zip(cids, rng.normal(size=len(cids)), strict=True)
            ],
        )
        version = session.get(RewardModel, version_id)
        version.is_active = True
        session.commit()
        ps = session.get(PromptSet, set_id)
        t0, c0 = time.perf_counter(), time.process_time()
        changed = refresh_priorities(session, ps)
        session.commit()
        t1, c1 = time.perf_counter(), time.process_time()
        again = refresh_priorities(session, ps)
        session.commit()
        t2 = time.perf_counter()
        print(
            f"priority refresh, {prompts} prompts x 4 scored candidates: {t1 - t0:.2f} s "
            f"({c1 - c0:.2f} s CPU here) "
            f"({changed} rewritten); again with nothing changed {t2 - t1:.2f} s ({again})",
            flush=True,
        )
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-model", action="store_true", help="no embedding benchmark")
    parser.add_argument("--models", default="", help="data folder holding models/ (cache)")
    args = parser.parse_args()
    admin = os.environ.get(
        "RANKLAB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(args.models) if args.models else Path(tmp)
        settings = Settings(data_dir=data_dir, secret_key="x" * 48, generation_threads=args.threads)
        print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs", flush=True)
        if not args.skip_model:
            bench_embedding(settings)
        bench_head()
        url = fresh_database(admin, DB_NAME)
        bench_scoring(url, settings, args.prompts // 4)
        bench_priorities(url, settings, args.prompts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
