"""`ranklab export FORMAT --prompt-set NAME -o FILE [options]`: the API's export, to a file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.analytics import fit_cache
from app.cli.common import cli_session, settings
from app.core.db import make_engine, make_sessionmaker
from app.exports import audit_trail, service
from app.exports.schemas import CONSENSUS_METHODS, FILE_TYPES, FORMATS, ExportQuery


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export a preference dataset to a file")
    p.add_argument("format", choices=FORMATS)
    p.add_argument(
        "--prompt-set",
        action="append",
        required=True,
        metavar="NAME",
        help="prompt set name or id (repeat for several)",
    )
    p.add_argument("-o", "--output", required=True, type=Path, help="file to write ('-' = stdout)")
    p.add_argument("--file-type", choices=FILE_TYPES)
    p.add_argument("--columns", choices=("all", "core"))
    p.add_argument("--split", choices=("train", "test", "all"))
    p.add_argument("--test-fraction")
    p.add_argument("--created-after", help="ISO date or datetime (UTC if no offset)")
    p.add_argument("--created-before", help="ISO date or datetime (UTC if no offset)")
    p.add_argument(
        "--annotator",
        action="append",
        dest="annotators",
        default=[],
        help="pseudonym or username (repeat for several)",
    )
    p.add_argument("--min-agreement")
    p.add_argument(
        "--exclude-flag",
        action="append",
        dest="exclude_flags",
        default=[],
        help="leave out candidates flagged with this kind ('any' for all kinds)",
    )
    p.add_argument("--ties", choices=("drop", "both"))
    p.add_argument(
        "--consensus-method",
        choices=CONSENSUS_METHODS,
        help="consensus format: majority vote (default) or reliability-weighted vote",
    )
    p.add_argument("--tokenizer", help="model whose chat template renders prompts")
    p.add_argument("--origin", choices=("human", "judge", "all"), help="whose rankings")
    p.add_argument("--judge-versions", choices=("current", "all"))
    for flag in (
        "exclude-gold",
        "exclude-flagged-annotators",
        "exclude-suggestion-shown",
        "dedupe",
        "include-all-bad",
        "include-no-majority",
        "margin",
        "bundle",
    ):
        p.add_argument(f"--{flag}", action="store_true", default=None)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_export)


def _raw(args: argparse.Namespace) -> dict:
    """The flags as raw options: the export query's fields (ExportQuery) plus the format."""
    names = [n for n in ExportQuery.model_fields if getattr(args, n, None) is not None]
    return {n: getattr(args, n) for n in names} | {"format": args.format}


def _export(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    s = settings()
    with cli_session() as session:
        plan = service.parse_options(
            session,
            _raw(args),
            secret_key=s.resolved_secret_key(),
            default_model=s.default_model,
            tokenizer_dir=s.tokenizer_dir,
        )
    engine = make_engine(s.sqlalchemy_url)
    to_stdout = str(args.output) == "-"
    bar = tqdm(unit=" rows", disable=args.no_progress, file=sys.stderr, desc=plan.options.format)

    def count(rows: int) -> None:
        bar.update(rows)

    try:
        out = sys.stdout.buffer if to_stdout else open(args.output, "wb")  # noqa: SIM115
        try:
            # The audit row's actor is the system: the shell user is not a Ranklab account.
            chunks = audit_trail.audited_chunks(
                make_sessionmaker(engine), plan, actor=None, request=None, on_rows=count
            )
            for chunk in chunks:
                out.write(chunk)
        finally:
            if not to_stdout:
                out.close()
    finally:
        bar.close()
        # The reliability fit is stored by a thread: let it finish before the process ends.
        fit_cache.wait_for_writes()
        engine.dispose()
    if not to_stdout:
        print(f"wrote {bar.n} rows to {args.output}", file=sys.stderr)
    return 0
