"""Where the installed package keeps its templates, static files and migrations.

The repository keeps them in top-level `templates/`, `static/` and `migrations/` (the layout
is part of the design); `app/templates`, `app/static` and `app/migrations` are links to those
folders, and `pyproject.toml` ships their contents as package data. So a wheel, a regular
install, an editable install and a source checkout all find them inside the `app` package,
through importlib.resources rather than path arithmetic on `__file__`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def bundled_dir(name: str) -> Path:
    """A folder shipped inside the `app` package, as a real directory on disk.

    Jinja2, Starlette's StaticFiles and Alembic all need a file-system path, so an install
    that leaves the package zipped is refused here with a message instead of failing later.
    """
    resource = files("app") / name
    if not isinstance(resource, Path) or not resource.is_dir():
        raise RuntimeError(
            f"Ranklab's {name}/ folder is missing from the installed package ({resource}); "
            "reinstall ranklab from a wheel or a source checkout"
        )
    return resource


TEMPLATES_DIR = bundled_dir("templates")
STATIC_DIR = bundled_dir("static")
MIGRATIONS_DIR = bundled_dir("migrations")
