"""/docs: Swagger UI from the installed fastapi-offline package, never a CDN.

FastAPI's own /docs page loads Swagger UI from a CDN and starts it with an inline script;
our Content-Security-Policy allows neither. This page loads the same UI from our own
origin and starts it from static/js/docs/swagger-init.js.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/static/swagger-ui"

DOCS_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Ranklab API</title>
  <link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="/openapi.json"></div>
  <script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>
  <script src="/static/js/docs/swagger-init.js"></script>
</body>
</html>
"""


def swagger_assets_dir() -> Path | None:
    """fastapi-offline ships Swagger UI 5 (which reads OpenAPI 3.1, what FastAPI writes) as
    plain files; we use only those files, not its app factory."""
    try:
        folder = files("fastapi_offline") / "static"
    except ModuleNotFoundError:
        return None
    return folder if isinstance(folder, Path) and folder.is_dir() else None


def install_api_docs(app: FastAPI) -> None:
    """Mount the assets and the page; call before the /static mount, which would shadow
    /static/swagger-ui. Without the package installed, /docs answers 404."""
    assets = swagger_assets_dir()
    if assets is None:
        return
    app.mount(ASSETS_URL, StaticFiles(directory=str(assets)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE)
