"""An admin opens the Reward model tab: versions, metrics, the learning curve; activates
another version, changes the routing, and is told when there is too little data to train.

The versions are seeded as a worker leaves them (metrics, a head artifact, cached
embeddings), so activation scores every candidate from the cache without loading weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from playwright.sync_api import Page, expect

from app.core.db import make_engine, make_sessionmaker
from app.generation.backends.transformers import pick_dtype
from app.reward import artifacts, embeddings
from app.reward.backbone import input_hash
from app.reward.data import load_set_data
from app.reward.head import Head
from app.reward.models import CandidateEmbedding
from app.reward.schemas import TrainOptions
from tests.factories.accounts import DEFAULT_PASSWORD, make_user
from tests.factories.reward import make_ranked_set, make_scored_version, make_version
from tests.support.server import ranklab_env, run_cli, start_server

DIM = 576
METRICS = {
    "test": {"accuracy": 0.81, "ci95": [0.74, 0.88], "pairs": 120, "prompts": 10},
    "human": {
        "inter_annotator_agreement": {"agreement": 0.64, "ci95": [0.58, 0.7], "pairs": 120},
        "majority_accuracy": {"accuracy": 0.83, "ci95": [0.77, 0.89], "pairs": 120},
        "model_accuracy": {"accuracy": 0.81, "ci95": [0.74, 0.88], "pairs": 120},
    },
    "baselines": {
        "longer_answer_wins": {"accuracy": 0.52, "ci95": [0.45, 0.6]},
        "first_displayed_wins": {"accuracy": 0.49, "ci95": [0.41, 0.57]},
    },
    "learning_curve": [
        {"comparisons": n, "accuracy": a, "ci95": [a - 0.06, a + 0.06]}
        for n, a in ((16, 0.58), (40, 0.66), (100, 0.74), (250, 0.79), (600, 0.81))
    ],
}


def _seed_cached_head(session, data_dir: Path, ps, version) -> None:
    """A head artifact and cached embeddings for every candidate of the set."""
    data = load_set_data(session, ps.id, test_fraction=0.1, validation_fraction=0.15)
    chats = embeddings.candidate_chats(
        data.candidates,
        data.prompts,
        data.system_prompt,
        data.candidates,
        embeddings.tokenizer_for("smollm2"),
    )
    key = embeddings.cache_key(TrainOptions(backbone="smollm2"), pick_dtype("auto"))
    rng = np.random.default_rng(0)
    for cid, text in chats.items():
        session.add(
            CandidateEmbedding(
                candidate_id=cid,
                backbone=key,
                pooling="last",
                input_hash=input_hash(text),
                dim=DIM,
                vector=rng.normal(size=DIM).astype("<f4").tobytes(),
            )
        )
    folder = artifacts.version_folder(data_dir, version.id)
    with artifacts.writing(folder) as tmp:
        head = Head(rng.normal(size=(3, DIM)), np.ones(DIM), 1.0, {})
        artifacts.save_head(tmp, head, {"backbone": "smollm2", "pooling": "last"})
    version.artifact_path = str(folder)
    session.commit()


def test_admin_reads_metrics_activates_a_version_and_sets_routing(
    page: Page, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = ranklab_env(data_dir)
    assert run_cli(["db", "upgrade"], env).returncode == 0
    engine = make_engine(f"sqlite:///{data_dir / 'ranklab.db'}")
    with make_sessionmaker(engine)() as session:
        ps = make_ranked_set(session, prompts=10, name="Helpful answers")
        small = make_ranked_set(session, prompts=1, name="Tiny set")
        first = make_scored_version(session, ps, {}, metrics=METRICS)
        options = {"kind": "fast", "backbone": "smollm2", "pooling": "last"}
        second = make_version(session, ps, metrics=METRICS, options=options)
        _seed_cached_head(session, data_dir, ps, second)
        admin = make_user(session, role="admin")
    server = start_server(env, tmp_path / "server.log")
    try:
        page.goto(server.base_url + "/login")
        page.get_by_label("Username").fill(admin.username)
        page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{server.base_url}/admin/prompt-sets/{ps.id}")
        page.get_by_role("link", name="Reward model").click()
        expect(page.get_by_role("heading", name="Reward model: Helpful answers")).to_be_visible()

        rows = page.locator("[data-versions] tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator(f'[data-version="{first.id}"] .badge')).to_have_text("active")
        expect(page.locator('[data-chart="learning-curve"] circle')).to_have_count(5)
        expect(page.locator('[data-chart="accuracy"]')).to_contain_text("81.0%")
        bars = page.locator('[data-chart="accuracy"]')
        expect(bars).to_contain_text("inter-annotator agreement")
        expect(bars).to_contain_text("64.0% [58.0%, 70.0%] n=120")
        expect(bars).to_contain_text("majority of the other annotators")
        expect(bars).to_contain_text("83.0% [77.0%, 89.0%] n=120")
        expect(page.locator('[data-chart="learning-curve"] [data-guide]')).to_have_count(2)

        page.locator(f'[data-version="{second.id}"]').get_by_role("button", name="Activate").click()
        expect(page.get_by_text(f"Version {second.id} is now active")).to_be_visible()
        expect(page.locator(f'[data-version="{second.id}"] .badge')).to_have_text("active")
        expect(page.locator(f'[data-version="{first.id}"] .badge')).to_have_count(0)
        expect(page.locator("[data-scores] tbody tr")).to_have_count(10)

        page.get_by_label("Routing").select_option("uncertain_first")
        page.get_by_role("button", name="Save routing").click()
        expect(page.locator("[data-routing]")).to_have_text("uncertain first")

        page.goto(f"{server.base_url}/admin/prompt-sets/{small.id}/reward-model")
        page.get_by_role("button", name="Train").click()
        expect(page.locator(".flash-error")).to_contain_text(
            "needs at least 50 comparisons (has 12)"
        )
    finally:
        server.stop()
        engine.dispose()
