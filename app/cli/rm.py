"""`ranklab rm train|list|score`: reward models from the command line.

    ranklab rm train --prompt-set NAME [--kind fast|full] [--backbone smollm2]
                     [--option key=value ...] [--wait [--no-worker]]
    ranklab rm list [--prompt-set NAME]
    ranklab rm score --prompt-set NAME

`train --wait` also runs a worker in this process (unless --no-worker) and shows a
progress bar until the version is done; a `ranklab worker` elsewhere shares the queue.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

from app.cli.common import cli_session, settings
from app.core.errors import InvalidInput


def register(subparsers: argparse._SubParsersAction) -> None:
    rm = subparsers.add_parser("rm", help="train, list and apply reward models")
    sub = rm.add_subparsers(dest="rm_command", required=True, metavar="ACTION")
    train = sub.add_parser("train", help="train a reward model version on a prompt set")
    train.add_argument("--prompt-set", required=True, metavar="NAME")
    train.add_argument("--kind", choices=("fast", "full"), default="fast")
    train.add_argument("--backbone", default="smollm2", help="smollm2, a folder or a .gguf")
    train.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a training option, e.g. test_fraction=0.2 or max_steps=10 (repeatable)",
    )
    train.add_argument("--wait", action="store_true", help="show a progress bar until done")
    train.add_argument(
        "--no-worker", action="store_true", help="with --wait: only watch, don't train here"
    )
    train.set_defaults(func=_train)
    listing = sub.add_parser("list", help="list reward model versions")
    listing.add_argument("--prompt-set", metavar="NAME")
    listing.set_defaults(func=_list)
    score = sub.add_parser("score", help="score every candidate with the active version")
    score.add_argument("--prompt-set", required=True, metavar="NAME")
    score.set_defaults(func=_score)


def parse_option_args(pairs: list[str]) -> dict[str, Any]:
    """key=value strings; values are read as JSON where they parse (numbers, booleans)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(
                f"--option {pair!r}: write key=value.",
                errors=[{"field": "option", "message": f"{pair!r} is not key=value"}],
            )
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _train(args: argparse.Namespace) -> int:
    from app.core import migrate
    from app.prompt_sets import service as prompt_set_service
    from app.reward import service

    s = settings()
    migrate.upgrade(s.sqlalchemy_url)
    options = {**parse_option_args(args.option), "kind": args.kind, "backbone": args.backbone}
    with cli_session() as session:
        prompt_set = prompt_set_service.load_prompt_set_by_name(session, args.prompt_set)
        version = service.create_version(
            session,
            prompt_set_id=prompt_set.id,
            options=options,
            created_by_id=None,
            app_settings=s,
        )
        print(f"reward model #{version.id} ({version.kind}) queued", flush=True)
    if not args.wait:
        return 0
    return _wait(version.id, run_worker=not args.no_worker)


def _wait(version_id: int, *, run_worker: bool) -> int:
    from tqdm import tqdm

    from app.core.db import make_engine
    from app.generation.worker import new_worker_id
    from app.reward import service
    from app.reward.worker import RewardWorker

    s = settings()
    stop = threading.Event()
    thread = None
    if run_worker:
        engine = make_engine(s.sqlalchemy_url)
        worker = RewardWorker(engine, s, new_worker_id())

        def work() -> None:
            while not stop.is_set() and worker.run_once():
                pass

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
    try:
        with cli_session() as session, tqdm(total=100, unit="%", dynamic_ncols=True) as bar:
            while True:
                session.expire_all()
                version = service.load_version(session, version_id)
                session.rollback()
                bar.n = round(100 * version.progress, 1)
                bar.set_postfix_str(f"{version.status}: {version.progress_message}"[:60])
                bar.refresh()
                if version.status not in ("queued", "running"):
                    break
                time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopped watching; training goes on in any running worker", file=sys.stderr)
        return 130
    finally:
        stop.set()
    test = (version.metrics or {}).get("test", {})
    active = "active" if version.is_active else "not active"
    print(
        f"reward model #{version.id} {version.status} ({active}): held-out accuracy "
        f"{test.get('accuracy')} CI {test.get('ci95')}; {version.progress_message}",
        flush=True,
    )
    if version.error:
        print(f"error: {version.error}", file=sys.stderr)
    return 0 if version.status == "done" else 1


def _list(args: argparse.Namespace) -> int:
    from app.prompt_sets import service as prompt_set_service
    from app.reward import service

    with cli_session() as session:
        set_id = None
        if args.prompt_set:
            set_id = prompt_set_service.load_prompt_set_by_name(session, args.prompt_set).id
        print("id\tset\tkind\tstatus\tactive\taccuracy\tci95\tcomparisons")
        for v in service.list_versions(session, set_id):
            test = (v.metrics or {}).get("test", {})
            comparisons = (v.training_data or {}).get("comparisons", "")
            print(
                f"{v.id}\t{v.prompt_set_id}\t{v.kind}\t{v.status}\t{'yes' if v.is_active else ''}"
                f"\t{test.get('accuracy', '')}\t{test.get('ci95', '')}\t{comparisons}"
            )
    return 0


def _score(args: argparse.Namespace) -> int:
    from app.prompt_sets import service as prompt_set_service
    from app.reward import service

    s = settings()
    with cli_session() as session:
        prompt_set = prompt_set_service.load_prompt_set_by_name(session, args.prompt_set)
        scored = service.rescore_set(session, prompt_set_id=prompt_set.id, app_settings=s)
    print(f"scored {scored} candidates of {args.prompt_set!r}; priorities refreshed", flush=True)
    return 0
