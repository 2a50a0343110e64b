"""Routes serving mentoring's pages, and the stylesheet and script they share.

The pages themselves are not secret: a browser cannot send a bearer token when it opens a link, so each
page asks for the token and every piece of data comes from the JSON routes, which check it.
"""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(tags=["mentoring"])
HERE = Path(__file__).parent


def _page(name: str) -> HTMLResponse:
    return HTMLResponse((HERE / name).read_text())


@router.get("/mentoring/pages/me", response_class=HTMLResponse, include_in_schema=False)
async def read_my_page() -> HTMLResponse:
    """A member's page: their request, the proposal with why it was made, or their match."""
    return _page("me.html")


@router.get("/mentoring/pages/mentor", response_class=HTMLResponse, include_in_schema=False)
async def read_mentor_page() -> HTMLResponse:
    """A mentor's page: proposals to accept or decline, and their mentees."""
    return _page("mentor.html")


@router.get("/mentoring/pages/coordinator", response_class=HTMLResponse, include_in_schema=False)
async def read_coordinator_page() -> HTMLResponse:
    """A coordinator's page: the waiting list, proposals pending, each mentor's load, and a rematch."""
    return _page("coordinator.html")


@router.get("/mentoring/pages/pages.css", include_in_schema=False)
async def read_pages_stylesheet() -> FileResponse:
    """The pages' one stylesheet."""
    return FileResponse(HERE / "pages.css", media_type="text/css")


@router.get("/mentoring/pages/pages.js", include_in_schema=False)
async def read_pages_script() -> FileResponse:
    """What every page's script shares: the token, calls, problems, signing in and out."""
    return FileResponse(HERE / "pages.js", media_type="text/javascript")
