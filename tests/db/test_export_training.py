"""The `pairs` and `conversational` exports load with datasets and train TRL's RewardTrainer
with no glue code (a tiny model built from a config; the SmolLM2 tokenizer; no download)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.exports import service
from app.generation.model_files import load_tokenizer
from tests.factories.export_data import make_export_scenario
from tests.support.sessions import SharedSession

pytestmark = [pytest.mark.model, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


def _export(session: Session, path: Path, raw: dict) -> Path:
    plan = service.parse_options(session, raw, secret_key="k" * 48, default_model="smollm2")
    path.write_bytes(b"".join(service.export_chunks(lambda: SharedSession(session), plan)))
    return path


def _train(data_file: Path, tmp_path: Path) -> list[float]:
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForSequenceClassification, LlamaConfig
    from trl import RewardConfig, RewardTrainer

    torch.manual_seed(0)
    tokenizer = load_tokenizer("smollm2")
    dataset = load_dataset("json", data_files=str(data_file), split="train")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        num_labels=1,
    )
    model = AutoModelForSequenceClassification.from_config(config)
    args = RewardConfig(
        output_dir=str(tmp_path / "rm"),
        max_steps=5,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        logging_steps=1,
        max_length=512,
        use_cpu=True,
        bf16=False,
        logging_nan_inf_filter=False,
        report_to=[],
        save_strategy="no",
        # TRL defaults gradient_checkpointing on; naming the new field avoids the
        # transformers deprecation warning (warnings are errors in tests).
        activation_checkpointing=False,
        dataset_num_proc=None,
    )
    trainer = RewardTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer
    )
    trainer.train()
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


@pytest.mark.parametrize(("fmt", "columns"), [("pairs", "all"), ("conversational", "core")])
def test_reward_trainer_runs_on_export(session, tmp_path, fmt, columns):
    scenario = make_export_scenario(session)
    raw = {"format": fmt, "prompt_set": [scenario.prompt_set.id], "columns": columns}
    data_file = _export(session, tmp_path / f"{fmt}.jsonl", raw)
    losses = _train(data_file, tmp_path)
    assert len(losses) >= 5
    assert all(math.isfinite(loss) for loss in losses)
