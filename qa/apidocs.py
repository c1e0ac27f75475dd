"""The API documentation page (/docs) from assets shipped with an installed package.

FastAPI's own pages load Swagger UI, ReDoc and a favicon from CDNs, so they are blank on a
machine without internet. This follows FastAPI's documented self-hosting ("Custom Docs UI
Static Assets"): the default pages are turned off (``docs_url=None, redoc_url=None``) and
/docs is served over the JavaScript and CSS of the ``fastapi-offline`` package (MIT; Swagger
UI 5 as published), mounted under ``/docs-assets``. /redoc leads to /docs: ReDoc's bundle
fetches its logo from its CDN whatever the options.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"

# Swagger UI would otherwise send the schema to validator.swagger.io for a badge.
SWAGGER_PARAMETERS = {"validatorUrl": None, "defaultModelsExpandDepth": 0}


def assets_folder() -> Path:
    """The folder of swagger-ui-bundle.js, swagger-ui.css and favicon.png."""
    return Path(str(files("fastapi_offline") / "static"))


def under_root(request: Request, path: str) -> str:
    """``path`` as the browser must ask for it: behind a proxy that serves the app under a
    prefix, with that prefix (``root_path``)."""
    return request.scope.get("root_path", "") + path


def add_docs(app: FastAPI) -> None:
    """Serve /docs (Swagger UI) with no request leaving this server; /redoc leads there.

    ``app`` must have been made with ``docs_url=None, redoc_url=None``."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_folder()), name="docs-assets")
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    def asset(request: Request, name: str) -> str:
        return under_root(request, f"{ASSETS_URL}/{name}")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=under_root(request, app.openapi_url or "/openapi.json"),
            title=f"{app.title} – API",
            oauth2_redirect_url=redirect_url,
            swagger_js_url=asset(request, "swagger-ui-bundle.js"),
            swagger_css_url=asset(request, "swagger-ui.css"),
            swagger_favicon_url=asset(request, "favicon.png"),
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )

    @app.get(redirect_url, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> RedirectResponse:
        # No ReDoc: its bundle always loads its logo from cdn.redoc.ly. One page of docs is enough.
        return RedirectResponse(under_root(request, "/docs"))
