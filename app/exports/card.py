"""The dataset card (README.md) inside an export bundle."""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.orm import Session

from app.analytics import loaders
from app.analytics.reliability import PRIOR_VOTES
from app.analytics.reports import prompt_set_stats
from app.annotation.adjudication import adjudicated_rankings
from app.core.package_files import TEMPLATES_DIR
from app.exports.formats import UNPAIRED_LABEL_RULE, fields
from app.exports.pseudonym import pseudonym
from app.exports.schemas import ExportOptions
from app.exports.source import judge_pseudonyms, judge_versions_included
from app.exports.writers import CSV_NOTE

log = logging.getLogger("ranklab.exports")

if TYPE_CHECKING:
    from app.exports.plan import ExportPlan

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


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


# Characters that start markdown inline syntax (or raw HTML) in a line of text.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>|#!~&])")


def markdown_text(value: Any) -> str:
    """Untrusted text as one line of literal markdown: whitespace (newlines included) folds
    to single spaces and markup characters are backslash-escaped, so a name like
    "# x\n| a |" can open no heading, table or HTML tag."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(str(value).split()))


def markdown_quote(value: str) -> str:
    """Guidelines (written in markdown) as a block quote: every line stays inside the quote,
    so no heading, fence or list can escape it; raw HTML is shown as text."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;")
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines() or [""])


def markdown_code(value: str) -> str:
    """A code span whose fence is longer than any backtick run inside it."""
    text = str(value)
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _json(value: Any, sort_keys: bool = False) -> str:
    return json.dumps(value, sort_keys=sort_keys)


_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR / "exports"),
    autoescape=False,  # markdown, not HTML: the filters above make untrusted text safe
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=StrictUndefined,
)
_env.filters.update(
    md=markdown_text,
    quote=markdown_quote,
    code=markdown_code,
    num=_fmt,
    tojson_plain=_json,
)


def dataset_card(
    session: Session, plan: ExportPlan, counts: dict[str, int], lengths: dict[str, Any] | None
) -> str:
    """README.md: what was collected, by how many people, how, and how to train on it."""
    o = plan.options
    prompt_sets = [
        {**ps, "stats": prompt_set_stats(session, prompt_set_id=ps["id"])}
        for ps in plan.prompt_sets
    ]
    return _env.get_template("dataset_card.md.j2").render(
        o=o,
        annotators=loaders.count_annotators(session, o.prompt_set_ids),
        prompt_sets=prompt_sets,
        models=loaders.count_candidates_by_model(session, o.prompt_set_ids),
        judges=judge_versions_included(session, o),
        field_names=[name for name, _ in fields(o)],
        counts=counts,
        lengths=lengths,
        label_rule=UNPAIRED_LABEL_RULE,
        adjudicated_prompts=len(adjudicated_rankings(session, o.prompt_set_ids)),
        csv_note=CSV_NOTE,
        loader={"jsonl": "json", "csv": "csv", "parquet": "parquet"}[o.file_type],
        reliability=_reliability_table(session, plan),
        prior_votes=PRIOR_VOTES,
    )


def _reliability_table(session: Session, plan: ExportPlan) -> list[dict[str, Any]]:
    """The fitted annotator reliabilities, by pseudonym (a judge version by its export
    name), most trusted first."""
    fitted = plan.reliability or {}
    judges = judge_pseudonyms(session, fitted)
    rows = [
        {
            "annotator": judges.get(uid) or pseudonym(plan.secret_key, uid),
            "skill": r.skill,
            "votes": r.votes,
            "weight": r.weight,
        }
        for uid, r in fitted.items()
    ]
    return sorted(rows, key=lambda row: (-row["weight"], row["annotator"]))
