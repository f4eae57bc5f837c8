"""Where a version's files live, how they are written atomically, and the download zip.

<data_dir>/reward_models/<version id>/ holds, for a fast version, `head.npz` (the
ensemble's weight matrix, row 0 the score) with `config.json`; for a full version a
Hugging Face model folder (`from_pretrained` loads it). Both carry a README.md model card.
A folder is written under a temporary name and renamed, so a crash never leaves a half
artifact behind a "done" version.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from app.reward.head import Head


def version_folder(data_dir: Path, version_id: int) -> Path:
    return data_dir / "reward_models" / str(version_id)


@contextmanager
def writing(folder: Path) -> Iterator[Path]:
    """A temporary folder renamed to `folder` when the block succeeds."""
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def save_head(folder: Path, head: Head, config: dict[str, Any]) -> None:
    np.savez(folder / "head.npz", weights=head.weights, scale=head.scale)
    (folder / "config.json").write_text(json.dumps({**config, "c": head.c}, indent=2))


def load_head_weights(folder: Path) -> np.ndarray:
    with np.load(folder / "head.npz") as data:
        return np.asarray(data["weights"])


def _human_lines(metrics: dict[str, Any]) -> list[str]:
    human = metrics.get("human")
    if human is None:  # a version trained before issue 20
        old = metrics.get("ceiling", {})
        return [f"- inter-annotator agreement (leave-one-out): {old.get('agreement')}"]
    rows = [
        ("inter-annotator agreement", human["inter_annotator_agreement"], "agreement"),
        (
            "accuracy of the majority of the other annotators",
            human["majority_accuracy"],
            "accuracy",
        ),
        ("reward model on the same pairs", human["model_accuracy"], "accuracy"),
    ]
    return [
        f"- {name}: {value.get(key)} (95% CI {value.get('ci95')}, {value.get('pairs')} test "
        f"pairs another annotator ranked)"
        for name, value, key in rows
    ]


def model_card(*, prompt_set: str, version: dict[str, Any], usage: str) -> str:
    """README.md: what the version is, the data it saw, its metrics and settings."""
    metrics = version.get("metrics", {})
    test = metrics.get("test", {})
    lines = [
        f"# Ranklab reward model {version['id']} ({version['kind']})",
        "",
        f"Trained on the human rankings of prompt set **{prompt_set}** collected with Ranklab.",
        "",
        "## Data",
        "",
        "```json",
        json.dumps(version.get("training_data", {}), indent=2),
        "```",
        "",
        "## Held-out metrics",
        "",
        f"- accuracy on test pairs: {test.get('accuracy')} (95% CI {test.get('ci95')}, "
        f"{test.get('pairs')} pairs)",
        *_human_lines(metrics),
    ]
    for name, value in metrics.get("baselines", {}).items():
        lines.append(f"- baseline {name.replace('_', ' ')}: {value.get('accuracy')}")
    lines += [
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(version.get("options", {}), indent=2),
        "```",
        "",
        "## Use",
        "",
        usage,
        "",
    ]
    return "\n".join(lines)


def existing_folder(artifact_path: str | None) -> Path | None:
    if not artifact_path:
        return None
    folder = Path(artifact_path)
    return folder if folder.is_dir() else None


def zip_to_temp(folder: Path, root_name: str) -> Path:
    """The artifact folder as a zip in a temporary file (a full model is hundreds of MB:
    never held in memory); the caller deletes it once sent."""
    handle, name = tempfile.mkstemp(prefix=f"{root_name}-", suffix=".zip")
    os.close(handle)
    with zipfile.ZipFile(name, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"{root_name}/{path.relative_to(folder)}")
    return Path(name)
