"""`ranklab` command line: each module under app/cli registers its own subcommands."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from app import __version__
from app.core.errors import AppError

# Each module has register(subparsers); a subcommand's parser sets `func(args) -> int`.
COMMAND_MODULES = (
    "serve",
    "db",
    "users",
    "demo",
    "import_prompts",
    "generate",
    "worker",
    "export",
    "rm",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="ranklab", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ranklab {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"app.cli.{name}").register(subparsers)
    return parser


def quiet_openmp() -> None:
    """Idle OpenMP threads sleep instead of spinning. Torch's threads otherwise spin for a
    while after each parallel region, taking the cores from the web app's requests (and
    from each other under oversubscription). Read once, when torch loads its OpenMP
    runtime: so set here, before any command imports torch; an explicit value is kept."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: Sequence[str] | None = None) -> int:
    quiet_openmp()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic announces each of its plugins at INFO on every start; only its migrations matter.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        for err in exc.errors:
            where = f"line {err['line']}: " if err.get("line") else ""
            print(
                f"  {where}{err.get('field') or ''} {err.get('message', '')}".rstrip(),
                file=sys.stderr,
            )
        return 2


if __name__ == "__main__":
    sys.exit(main())
