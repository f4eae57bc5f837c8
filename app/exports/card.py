"""The dataset card (README.md) inside an export bundle."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.annotation.models import Annotation
from app.exports.formats import UNPAIRED_LABEL_RULE, fields
from app.exports.schemas import ExportOptions
from app.exports.stats import prompt_set_stats
from app.exports.writers import CSV_NOTE
from app.prompt_sets.models import Candidate, Prompt

log = logging.getLogger("ranklab.exports")

if TYPE_CHECKING:
    from app.exports.service import ExportPlan

SAMPLE_SIZE = 2000
PERCENTILES = (50, 90, 95, 99, 100)


class LengthSampler:
    """Keeps a reservoir sample of rows to report token-length percentiles from.

    RewardTrainer silently drops pairs longer than its max_length, so the card says how long
    the rows are. A sample keeps memory bounded; the percentiles are estimates beyond it.
    """

    def __init__(
        self,
        options: ExportOptions,
        tokenizer_setting: str,
        size: int = SAMPLE_SIZE,
        seed: int = 0,
    ) -> None:
        self.options = options
        self.tokenizer_setting = tokenizer_setting
        self.size = size
        self.seen = 0
        self.sample: list[tuple[str, str]] = []
        self._rng = random.Random(seed)

    def _texts(self, row: dict[str, Any]) -> list[str]:
        fmt = self.options.format
        if fmt in ("pairs", "consensus"):
            return [row["prompt"] + row["chosen"], row["prompt"] + row["rejected"]]
        if fmt == "unpaired":
            return [row["prompt"] + row["completion"]]
        if fmt == "conversational":
            prompt = "\n".join(m["content"] for m in row["prompt"])
            return [prompt + row["chosen"][0]["content"], prompt + row["rejected"][0]["content"]]
        return []

    def watch(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in rows:
            self.seen += 1
            texts = self._texts(row)
            if texts:
                item = (texts[0], texts[-1])
                if len(self.sample) < self.size:
                    self.sample.append(item)
                else:
                    j = self._rng.randrange(self.seen)
                    if j < self.size:
                        self.sample[j] = item
            yield row

    def percentiles(self) -> dict[str, Any] | None:
        """Longest side of each sampled row, in tokens of the export's tokenizer."""
        if not self.sample:
            return None
        try:
            from app.generation.model_files import load_tokenizer

            tokenizer = load_tokenizer(self.tokenizer_setting)
        except Exception:  # the card still ships, saying why the figure is missing
            log.exception("token lengths: tokenizer %r failed to load", self.options.tokenizer)
            return {"error": f"the tokenizer {self.options.tokenizer!r} could not be loaded"}
        import numpy as np

        lengths = [
            max(len(tokenizer(a)["input_ids"]), len(tokenizer(b)["input_ids"]))
            for a, b in self.sample
        ]
        values = np.percentile(lengths, PERCENTILES)
        return {
            "sampled_rows": len(self.sample),
            "percentiles": {f"p{p}": int(v) for p, v in zip(PERCENTILES, values, strict=True)},
        }


def _models(session: Session, prompt_set_ids: tuple[int, ...]) -> list[tuple[str, int]]:
    rows = session.execute(
        select(Candidate.model, func.count(Candidate.id))
        .join(Prompt, Prompt.id == Candidate.prompt_id)
        .where(Prompt.prompt_set_id.in_(prompt_set_ids))
        .group_by(Candidate.model)
        .order_by(Candidate.model)
    ).all()
    return [(m or "(unknown)", n) for m, n in rows]


def _annotator_count(session: Session, prompt_set_ids: tuple[int, ...]) -> int:
    return int(
        session.scalar(
            select(func.count(func.distinct(Annotation.annotator_id)))
            .join(Prompt, Prompt.id == Annotation.prompt_id)
            .where(Prompt.prompt_set_id.in_(prompt_set_ids))
        )
        or 0
    )


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _snippet(options: ExportOptions) -> str:
    ext = {"jsonl": "json", "csv": "csv", "parquet": "parquet"}[options.file_type]
    files = f'{{"train": "train.{options.file_type}", "test": "test.{options.file_type}"}}'
    if options.format not in ("pairs", "conversational", "consensus"):
        return (
            f'from datasets import load_dataset\n\nds = load_dataset("{ext}", data_files={files})\n'
        )
    keep = (
        '["prompt", "chosen", "rejected", "margin"]'
        if options.margin
        else '["prompt", "chosen", "rejected"]'
    )
    return f"""from datasets import load_dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from trl import RewardConfig, RewardTrainer

ds = load_dataset("{ext}", data_files={files})
# Keep TRL's columns only (the metadata columns are for analysis).
ds = ds.select_columns({keep})
model_id = "HuggingFaceTB/SmolLM2-135M-Instruct"  # any model with a chat template
tokenizer = AutoTokenizer.from_pretrained(model_id)
model = AutoModelForSequenceClassification.from_pretrained(model_id, num_labels=1)
model.config.pad_token_id = tokenizer.pad_token_id
trainer = RewardTrainer(
    model=model,
    args=RewardConfig(output_dir="rm", max_length=1024),
    train_dataset=ds["train"],
    eval_dataset=ds["test"],
    processing_class=tokenizer,
)
trainer.train()
"""


def dataset_card(
    session: Session, plan: ExportPlan, counts: dict[str, int], lengths: dict[str, Any] | None
) -> str:
    """README.md: what was collected, by how many people, how, and how to train on it."""
    o = plan.options
    lines = [f"# Ranklab export: {o.format}", ""]
    lines += [
        "## What was collected",
        "",
        "Human rankings of several model answers per prompt, collected with Ranklab. Each "
        "annotation orders every candidate answer into tie groups (best first); comparisons "
        "are the ordered pairs in different groups.",
        "",
        f"- Annotators: {_annotator_count(session, o.prompt_set_ids)} (counted, never named; "
        "rows carry a keyed-hash pseudonym per annotator)",
        "",
    ]
    for ps in plan.prompt_sets:
        stats = prompt_set_stats(session, prompt_set_id=ps["id"])
        lines += [f"### Prompt set: {ps['name']}", ""]
        if ps["description"]:
            lines += [ps["description"], ""]
        lines += [
            f"- Annotations: {stats['annotations']}; comparisons: {stats['comparisons']}; "
            f"prompts annotated: {stats['prompts_annotated']}",
            f"- Krippendorff's alpha (ordinal, prompts with 2+ annotators): "
            f"{_fmt(stats['alpha_ordinal'])}",
            f"- Pairwise agreement rate: {_fmt(stats['pairwise_agreement_rate'])}; "
            f"tie rate: {_fmt(stats['tie_rate'])}; 'all bad' rate: {_fmt(stats['all_bad_rate'])}",
            f"- Flag rates: {json.dumps({k: v for k, v in stats['flag_rates'].items()})}",
            f"- Generation settings: `{json.dumps(ps['generation'], sort_keys=True)}`",
            "",
            "Guidelines given to annotators:",
            "",
            *[f"> {line}" for line in (ps["guidelines"] or "(none)").splitlines()],
            "",
        ]
        if stats["models"]:
            lines += ["| model | win rate | Bradley–Terry strength (95% CI) |", "|---|---|---|"]
            for m in stats["models"]:
                ci = (
                    f"{_fmt(m['ci_low'])} – {_fmt(m['ci_high'])}" if m["ci_low"] is not None else ""
                )
                lines.append(
                    f"| {m['model']} | {_fmt(m['win_rate'])} | {_fmt(m['strength'])} {ci} |"
                )
            lines.append("")
    lines += ["## Models that wrote the candidates", ""]
    lines += [f"- {model}: {n} candidates" for model, n in _models(session, o.prompt_set_ids)]
    lines += ["", "## This export", ""]
    lines += [
        f"- Format: `{o.format}`; file type: `{o.file_type}`; columns: `{o.columns}`",
        f"- Fields: {', '.join(f'`{name}`' for name, _ in fields(o))}",
        f"- Rows: train {counts.get('train', 0)}, test {counts.get('test', 0)}",
        f"- Split: by a hash of the prompt's content, test fraction {o.test_fraction} "
        "(a prompt never lands in both)",
        f"- Filters and options: `{json.dumps(o.filters_summary(), sort_keys=True)}`",
    ]
    if o.file_type == "csv":
        lines.append(f"- {CSV_NOTE}")
    if o.format in ("pairs", "unpaired", "consensus"):
        lines.append(
            f"- Prompts are rendered with the chat template of `{o.tokenizer}` and end with "
            "the assistant header, so `prompt + chosen` is the full conversation."
        )
    if o.format in ("pairs", "conversational"):
        lines.append(
            "- 'All bad' annotations are "
            + ("included" if o.include_all_bad else "left out (both answers unacceptable)")
            + "; `margin` is the rating difference when the annotator rated both answers, "
            "else the distance between their rank groups."
        )
    if o.format == "unpaired":
        lines.append(f"- Label rule: {UNPAIRED_LABEL_RULE}")
    if o.format == "consensus":
        lines.append(
            "- One row per candidate pair per prompt; the chosen side has the majority of the "
            "annotators' votes. Pairs without a majority are "
            + ("included with `majority: false`." if o.include_no_majority else "left out.")
        )
    lines += ["", "## Token lengths", ""]
    if lengths is None:
        lines.append("Not computed for this format.")
    elif "error" in lengths:
        lines.append(f"Not computed: {lengths['error']}")
    else:
        pct = ", ".join(f"{k}: {v}" for k, v in lengths["percentiles"].items())
        lines.append(
            f"Tokens of prompt + answer (the longer side of each row) with `{o.tokenizer}`, "
            f"estimated from {lengths['sampled_rows']} sampled rows: {pct}. RewardTrainer "
            "drops pairs longer than its `max_length`; set it above the p100 figure to keep all."
        )
    lines += ["", "## Load and train", "", "```python", _snippet(o).rstrip(), "```", ""]
    return "\n".join(lines)
