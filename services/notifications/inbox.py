"""The in-app inbox page: a person's notifications, live, in the browser.

One self-contained file (inline script and styles, no CDN) served by this service, so it reaches the
inbox routes on the same origin. It signs in with the person's bearer token, which EventSource cannot
send: the page reads the server-sent event stream with fetch instead, and resumes it after a break
with Last-Event-ID.
"""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["inbox"])
PAGE = Path(__file__).with_name("inbox.html")


@router.get("/notifications/inbox", response_class=HTMLResponse, include_in_schema=False)
async def read_inbox_page() -> HTMLResponse:
    """The inbox page; it signs in with the person's bearer token."""
    return HTMLResponse(PAGE.read_text())
