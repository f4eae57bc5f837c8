"""`ranklab import FILE --prompt-set NAME`: the same all-or-nothing import as the web."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from app.cli.common import cli_session
from app.core.errors import InvalidInput
from app.prompt_sets import imports
from app.prompt_sets import service as prompt_set_service


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import", help="import prompts from a JSONL or CSV file into a prompt set"
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--prompt-set", required=True, help="the prompt set's name")
    parser.add_argument("--format", choices=imports.FORMATS, help="default: from the file name")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_import)


def _import(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise InvalidInput(f"No such file: {args.file}")
    bars: dict[str, tqdm] = {}

    def progress(phase: str, rows: int) -> None:
        if phase not in bars:
            for bar in bars.values():
                bar.close()
            label = "checking" if phase == "validate" else "writing"
            bars[phase] = tqdm(desc=label, unit=" rows", disable=args.quiet)
        bars[phase].update(rows)

    try:
        with cli_session() as session, args.file.open("rb") as f:
            prompt_set = prompt_set_service.load_prompt_set_by_name(session, args.prompt_set)
            result = imports.import_prompts(
                session,
                prompt_set_id=prompt_set.id,
                file=f,
                filename=args.file.name,
                fmt=args.format,
                progress=progress,
            )
    finally:
        for bar in bars.values():
            bar.close()
    print(
        f"imported {result.imported} prompts ({result.candidates} candidates) into "
        f"{args.prompt_set!r}; skipped {result.skipped_duplicates} duplicates"
    )
    return 0
