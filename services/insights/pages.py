"""The dashboards page and its assets, served by insights itself (no CDN)."""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from shared.http import NotFound

router = APIRouter(tags=["pages"])
PAGES = Path(__file__).with_name("pages")
ASSETS = {"dashboards.js": "text/javascript", "dashboards.css": "text/css"}
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}


@router.get("/dashboards", response_class=HTMLResponse, include_in_schema=False)
async def read_dashboards() -> HTMLResponse:
    return HTMLResponse((PAGES / "dashboards.html").read_text(), headers=PAGE_HEADERS)


@router.get("/dashboards/assets/{name}", include_in_schema=False)
async def read_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise NotFound("asset")
    return FileResponse(PAGES / name, media_type=ASSETS[name])
