"""The dashboards page and its assets, served by insights itself (no CDN).

The page is not secret: a browser cannot send a bearer token when it opens a link, so the page asks
for the token and every figure comes from the JSON routes (api.py), which check it. Its charts are
uPlot from npm, fetched by `make` (deploy/local/webassets.py) and served under /docs-assets.
"""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from shared.http import NotFound

router = APIRouter(tags=["pages"])
PAGES = Path(__file__).with_name("pages")
ASSETS = {"dashboards.js": "text/javascript", "dashboards.css": "text/css"}
# The page runs only scripts from here, is framed by nobody, and posts forms only here. Its script sets
# styles through the CSSOM (bar widths, colours), which this policy allows and style attributes are not.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "Referrer-Policy": "no-referrer",
}


@router.get("/dashboards", response_class=HTMLResponse, include_in_schema=False)
async def read_dashboards() -> HTMLResponse:
    """The dashboards page: crisis, notifications, mentoring and meetings, services, and traces."""
    return HTMLResponse((PAGES / "dashboards.html").read_text(), headers=PAGE_HEADERS)


@router.get("/dashboards/assets/{name}", include_in_schema=False)
async def read_asset(name: str) -> FileResponse:
    """The page's script and stylesheet."""
    if name not in ASSETS:
        raise NotFound("asset")
    return FileResponse(PAGES / name, media_type=ASSETS[name])
