"""The API docs (/docs) and event docs (/asyncapi/) pages, with every script and style served by the
service itself: FastAPI's and FastStream's pages load theirs from CDNs, and are blank without internet.

The files come from the npm registry, fetched by `make` into .bin/web (deploy/local/webassets.py).
"""

import logging
import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from faststream.specification import AsyncAPI
from faststream.specification.asyncapi.site import get_asyncapi_html
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parents[1] / ".bin" / "web"
ASSETS_PATH = "/docs-assets"
SWAGGER = "swagger-ui-dist"
ASYNCAPI = "@asyncapi/react-component"
# FastStream's page links its favicons on asyncapi.com; no parameter changes them.
_REMOTE_ICON = re.compile(r'\s*<link rel="icon"[^>]*href="https?://[^"]*"[^>]*>')

log = logging.getLogger(__name__)


def _asset(request: Request, path: str) -> str:
    return f"{request.scope.get('root_path', '').rstrip('/')}{ASSETS_PATH}/{path}"


def _not_installed() -> HTMLResponse:
    return HTMLResponse(
        f"<p>The docs pages' scripts are not installed in {ASSETS}: run <code>make install</code>.</p>",
        status_code=503,
    )


def serve_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from local files, in place of FastAPI's; /redoc (CDN only) is removed."""
    cdn_pages = {app.docs_url, app.redoc_url}
    app.router.routes[:] = [
        r for r in app.router.routes if not (isinstance(r, Route) and r.path in cdn_pages)
    ]
    installed = ASSETS.is_dir()
    if installed:
        app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="docs-assets")
    else:
        log.warning("docs pages will answer 503: %s is missing (run `make install`)", ASSETS)

    async def read_docs(request: Request) -> HTMLResponse:
        if not installed:
            return _not_installed()
        root = request.scope.get("root_path", "").rstrip("/")
        redirect = app.swagger_ui_oauth2_redirect_url
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=_asset(request, f"{SWAGGER}/swagger-ui-bundle.js"),
            swagger_css_url=_asset(request, f"{SWAGGER}/swagger-ui.css"),
            swagger_favicon_url=_asset(request, f"{SWAGGER}/favicon-32x32.png"),
            oauth2_redirect_url=f"{root}{redirect}" if redirect else None,
            # Swagger UI otherwise shows a badge fetched from validator.swagger.io.
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )

    app.add_route("/docs", read_docs, include_in_schema=False)


def serve_asyncapi_viewer(app: FastAPI, spec: AsyncAPI) -> None:
    """FastStream's AsyncAPI viewer at /asyncapi/, its scripts and styles from local files."""
    pages: dict[str, str] = {}  # by root path: the document does not change while the app runs

    async def read_asyncapi_viewer(request: Request) -> HTMLResponse:
        if not ASSETS.is_dir():
            return _not_installed()
        root = request.scope.get("root_path", "")
        if root not in pages:
            html = get_asyncapi_html(
                spec.to_specification(),
                asyncapi_js_url=_asset(request, f"{ASYNCAPI}/browser/standalone/index.js"),
                asyncapi_css_url=_asset(request, f"{ASYNCAPI}/styles/default.min.css"),
                # No "try it out": the docs page must never become a way to publish events.
                try_it_out_path=None,
            )
            pages[root] = _REMOTE_ICON.sub("", html)
        return HTMLResponse(pages[root])

    app.add_route("/asyncapi/", read_asyncapi_viewer, include_in_schema=False)
