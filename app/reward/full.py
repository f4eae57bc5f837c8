"""The full reward model: TRL's RewardTrainer fine-tunes AutoModelForSequenceClassification.

It trains on the set's train-split pairs (conversational rows: the prompt's messages, the
chosen and the rejected answer as assistant turns), optionally as LoRA adapters through
peft (merged into the weights at the end, so the folder loads with plain
`from_pretrained`), on a GPU when torch sees one. The result is a Hugging Face model
folder with a model card. Held-out evaluation scores the test pairs' candidates with the
trained classifier, as for the fast model.

Before queueing, `check_time_budget` estimates the run from its token count and the
backbone's size (about 6 x parameters FLOPs per trained token, at a conservative
throughput per device) and refuses a run over `reward_full_time_budget_seconds`.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.generation.model_cache import cache_folder
from app.generation.model_files import resolve_model
from app.prompt_sets.content import as_messages
from app.reward import artifacts, evaluation
from app.reward.backbone import keep_end
from app.reward.errors import OverTimeBudget
from app.reward.models import RewardModel
from app.reward.schemas import TrainOptions
from app.reward.training import Outcome, Progress, read_training_data

# Sustained training throughput assumed by the estimate (FLOP/s): deliberately low, so a
# refused run is really too long, and an accepted one rarely overruns by much.
CPU_FLOPS, GPU_FLOPS = 2e10, 2e13
CHARS_PER_TOKEN = 4
SCORE_BATCH = 16
FULL_USAGE = (
    "A Hugging Face `AutoModelForSequenceClassification` folder with one output: "
    "`AutoModelForSequenceClassification.from_pretrained(folder)`, tokenize "
    "`tokenizer.apply_chat_template(prompt + [assistant: answer], tokenize=False)` and "
    "read `logits[:, 0]` as the reward."
)


def _gpu() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def estimate_seconds(pairs: int, avg_chars: float, params: float, opts: TrainOptions) -> float:
    tokens_per_pair = 2 * min(avg_chars / CHARS_PER_TOKEN, opts.max_length)
    steps_pairs = pairs * opts.epochs
    if opts.max_steps > 0:
        steps_pairs = min(steps_pairs, opts.max_steps * opts.batch_size)
    flops = 6 * params * tokens_per_pair * steps_pairs
    return flops / (GPU_FLOPS if _gpu() else CPU_FLOPS)


def _parameter_count(backbone: str, app_settings: Settings) -> float:
    """Roughly, from the config alone: the converted copy's config.json when there is one
    (reading a GGUF's metadata takes seconds), else the source's."""
    from transformers import AutoConfig

    source = resolve_model(backbone)
    folder = cache_folder(source, app_settings.model_cache_dir)
    if folder is not None and (folder / "config.json").exists():
        config = AutoConfig.from_pretrained(str(folder))
    else:
        config = AutoConfig.from_pretrained(source.path, **source.pretrained_kwargs())
    h, layers = config.hidden_size, config.num_hidden_layers
    inter = getattr(config, "intermediate_size", 4 * h)
    return layers * (4 * h * h + 3 * h * inter) + config.vocab_size * h


def check_time_budget(
    session: Session, prompt_set_id: int, opts: TrainOptions, app_settings: Settings
) -> None:
    """409 with the estimate when the run would take longer than the budget."""
    from app.annotation.models import Comparison
    from app.prompt_sets.models import Candidate, Prompt

    pairs, avg_chars = session.execute(
        select(func.count(Comparison.id), func.avg(func.length(Candidate.text)))
        .join(Candidate, Candidate.id == Comparison.chosen_candidate_id)
        .join(Prompt, Prompt.id == Comparison.prompt_id)
        .where(Prompt.prompt_set_id == prompt_set_id)
    ).one()
    train_pairs = pairs * (1 - opts.test_fraction)
    seconds = estimate_seconds(
        int(train_pairs),
        float(avg_chars or 0) + 200,
        _parameter_count(opts.backbone, app_settings),
        opts,
    )
    budget = app_settings.reward_full_time_budget_seconds
    if seconds > budget:
        raise OverTimeBudget(
            f"A full reward model on {int(train_pairs)} training pairs would take about "
            f"{_duration(seconds)} on this {'GPU' if _gpu() else 'CPU'}, over the time budget "
            f"of {_duration(budget)} (RANKLAB_REWARD_FULL_TIME_BUDGET_SECONDS). Set max_steps, "
            f"lower max_length, or train kind=fast.",
            errors=[{"field": "max_steps", "message": f"estimated {_duration(seconds)}"}],
        )


def _duration(seconds: float) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _model_folder(backbone: str, app_settings: Settings) -> str:
    """A folder `from_pretrained` reads: the converted copy of a GGUF (made once, as for
    generation), or the backbone's own folder / Hub id."""
    source = resolve_model(backbone)
    folder = cache_folder(source, app_settings.model_cache_dir)
    if folder is None:
        return source.path
    if not (folder / "ranklab-cache.json").exists():
        from app.generation.model_cache import load_model

        load_model(backbone, app_settings.model_cache_dir)
    return str(folder)


def _rows(data: Any, split: str) -> list[dict[str, Any]]:
    pairs = data.pairs.where(data.pairs.split == split)
    rows = []
    for pid, chosen, rejected in zip(pairs.prompt_id, pairs.chosen, pairs.rejected, strict=True):
        _, text, messages = data.prompts[int(pid)]
        prompt = as_messages(text, messages, data.system_prompt)
        rows.append(
            {
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": data.candidates[int(chosen)][1]}],
                "rejected": [{"role": "assistant", "content": data.candidates[int(rejected)][1]}],
            }
        )
    return rows


def train_full(
    session: Session,
    version: RewardModel,
    app_settings: Settings,
    progress: Progress,
    *,
    prompt_set_name: str,
) -> Outcome:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
    from trl import RewardConfig, RewardTrainer

    opts, data = read_training_data(session, version, progress)
    source_folder = _model_folder(opts.backbone, app_settings)
    tokenizer = AutoTokenizer.from_pretrained(source_folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(opts.seed)
    model = AutoModelForSequenceClassification.from_pretrained(source_folder, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    train_rows = _rows(data, "train") + _rows(data, "validation")
    folder = artifacts.version_folder(app_settings.data_dir, version.id)

    class Report(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            total = max(state.max_steps, 1)
            progress(0.05 + 0.8 * state.global_step / total, f"step {state.global_step}/{total}")

    peft_config = None
    if opts.lora:
        from peft import LoraConfig, TaskType

        peft_config = LoraConfig(
            task_type=TaskType.SEQ_CLS, r=opts.lora_r, lora_alpha=2 * opts.lora_r
        )
    args = RewardConfig(
        output_dir=str(folder.with_name(f"{folder.name}.work")),
        num_train_epochs=opts.epochs,
        max_steps=opts.max_steps,
        per_device_train_batch_size=opts.batch_size,
        learning_rate=opts.learning_rate,
        max_length=opts.max_length,
        use_cpu=not _gpu(),
        bf16=False,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        seed=opts.seed,
        activation_checkpointing=False,
        dataset_num_proc=None,
        disable_tqdm=True,
    )
    with warnings.catch_warnings():
        # peft asks transformers for `is_gradient_checkpointing`, deprecated in
        # transformers 5: their deprecation, not ours to act on.
        warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
        trainer = RewardTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(train_rows),
            processing_class=tokenizer,
            callbacks=[Report()],
            peft_config=peft_config,
        )
        trainer.train()
    trained: Any = trainer.model  # a PreTrainedModel (a PeftModel with LoRA)
    if opts.lora:
        trained = trained.merge_and_unload()
    trained.eval()
    progress(0.88, "evaluating")
    scores = _classifier_scores(trained, tokenizer, data, list(data.candidates), opts)
    test = data.pairs.where(data.pairs.split == "test")
    score_of = {cid: s for cid, (s, _) in scores.items()}
    metrics = {
        "test": evaluation.model_accuracy(score_of, test, seed=opts.seed),
        "human": evaluation.human_reference(data, test, score_of, seed=opts.seed),
        "baselines": evaluation.baselines(data, test),
        "train_loss": [e["loss"] for e in trainer.state.log_history if "loss" in e][-20:],
        "steps": trainer.state.global_step,
        "device": "cuda" if _gpu() else "cpu",
    }
    training_data = data.summary(opts.model_dump())
    card = {"id": version.id, "kind": "full", "options": opts.model_dump(), "metrics": metrics}
    card["training_data"] = training_data
    with artifacts.writing(folder) as tmp:
        trained.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / "README.md").write_text(
            artifacts.model_card(prompt_set=prompt_set_name, version=card, usage=FULL_USAGE)
        )
    return Outcome(metrics, training_data, str(folder), scores, test)


def _classifier_scores(
    model: Any, tokenizer: Any, data: Any, candidate_ids: list[int], opts: TrainOptions
) -> dict[int, tuple[float, float]]:
    import torch

    device = next(model.parameters()).device
    texts = []
    for cid in candidate_ids:
        prompt_id, answer = data.candidates[cid]
        _, text, messages = data.prompts[prompt_id]
        chat = [
            *as_messages(text, messages, data.system_prompt),
            {"role": "assistant", "content": answer},
        ]
        texts.append(tokenizer.apply_chat_template(chat, tokenize=False))
    out: dict[int, tuple[float, float]] = {}
    # Inference has no optimizer state to fit in memory: a larger batch than training's
    # (a forward pass costs about the same for 1 or 16 short rows on CPU).
    batch = max(opts.batch_size, SCORE_BATCH)
    # Keep each input's end (app.reward.backbone.keep_end): the prompt loses its start,
    # never the candidate.
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    kept = [keep_end(list(ids), opts.max_length) for ids in encoded]
    for start in range(0, len(texts), batch):
        enc = tokenizer.pad({"input_ids": kept[start : start + batch]}, return_tensors="pt").to(
            device
        )
        with torch.inference_mode():
            logits = model(**enc).logits[:, 0].float().cpu().numpy()
        for cid, value in zip(candidate_ids[start : start + batch], logits, strict=True):
            out[cid] = (float(value), 0.0)
    return out


def score_with_classifier(
    session: Session, version: RewardModel, candidate_ids: list[int], app_settings: Settings
) -> dict[int, tuple[float, float]]:
    """Scores by a trained full version (no ensemble: spread 0)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from app.reward.data import load_set_data

    opts = TrainOptions.model_validate(version.options)
    folder = Path(version.artifact_path or "")
    data = load_set_data(
        session,
        version.prompt_set_id,
        test_fraction=opts.test_fraction,
        validation_fraction=opts.validation_fraction,
    )
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    wanted = [c for c in candidate_ids if c in data.candidates]
    return _classifier_scores(model, tokenizer, data, wanted, opts) if wanted else {}
