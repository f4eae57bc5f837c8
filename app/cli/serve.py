"""`ranklab serve`: apply pending migrations, then run the web app with uvicorn.

We migrate on start because the single-machine default should just work after an
upgrade. Deployments that migrate as a separate step (several app processes behind a
load balancer) pass --no-migrate, and then a schema that is behind stops the start with
a clear message instead of serving errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.cli.common import settings
from app.core.metrics_dir import MULTIPROC_ENV, prepare_multiprocess_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="run the web app")
    serve.add_argument(
        "--host", default=None, help="bind address (default RANKLAB_HOST, 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=None, help="port (default RANKLAB_PORT, 8000)")
    serve.add_argument(
        "--no-migrate", action="store_true", help="refuse to start if the schema is behind"
    )
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log every request (off by default: it cost about 5%% of the app's CPU per "
        "request; a proxy in front usually logs them anyway)",
    )
    serve.set_defaults(func=_serve)


def use_multiprocess_metrics(data_dir: Path) -> Path:
    """Point prometheus-client at a folder the worker processes share (issue 23), emptied
    of an earlier run's files, before anything imports prometheus-client: it chooses its
    storage at import, and uvicorn's workers inherit the environment. An operator's own
    PROMETHEUS_MULTIPROC_DIR is kept (and emptied too)."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before its folder was set up")
    folder = Path(os.environ.get(MULTIPROC_ENV) or data_dir / "prometheus-multiproc")
    prepare_multiprocess_dir(folder)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


def _serve(args: argparse.Namespace) -> int:
    s = settings()
    if args.workers > 1:
        use_multiprocess_metrics(s.data_dir)

    import uvicorn

    from app.core import migrate
    from app.core.db import make_engine
    from app.main import create_app

    if args.no_migrate:
        engine = make_engine(s.sqlalchemy_url)
        try:
            if not migrate.is_up_to_date(engine):
                print(
                    "error: the database schema is behind this version of Ranklab "
                    f"(at {migrate.current_revision(engine)}, need {migrate.head_revision()}); "
                    "run `ranklab db upgrade` first.",
                    file=sys.stderr,
                )
                return 2
        finally:
            engine.dispose()
    else:
        migrate.upgrade(s.sqlalchemy_url)
    host = args.host or s.host
    port = args.port or s.port
    print(
        f"Ranklab on http://{host}:{port}  (database: {s.sqlalchemy_url.split('@')[-1]})",
        flush=True,
    )
    # uvicorn picks httptools and uvloop when installed (uvicorn[standard], issue 11).
    # Trust X-Forwarded-For only from the configured proxies: the rate limits count failed
    # logins per client address, which must be the browser's, not the proxy's.
    options = {
        "host": host,
        "port": port,
        "access_log": args.access_log,
        "log_level": "info",
        "proxy_headers": True,
        "forwarded_allow_ips": s.forwarded_allow_ips,
    }
    if args.workers > 1:
        uvicorn.run("app.main:create_app", factory=True, workers=args.workers, **options)
    else:
        uvicorn.run(create_app(s), **options)
    return 0
