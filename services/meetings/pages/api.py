"""The public directory's web pages: search, starting soon, a meeting's details, and their stylesheet.

Rendered on the server from Jinja2 templates (autoescaped) and plain GET forms, so they work without
JavaScript and stay light on a phone. The search reads the same parameters as the JSON directory
(directory_api.SearchParams, validated by FastAPI the same way); a bad one answers an HTML page that
says what to fix (422), not a JSON problem. Not in the OpenAPI document: they are pages, not API.
"""

import dataclasses
import re
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.routing import APIRoute

from services.meetings import directory_api, service
from services.meetings.deps import Db
from services.meetings.directory_api import Search
from services.meetings.pages import render
from shared.http import NotFound, Problem

STATIC = Path(__file__).with_name("static")
ASSETS = {"directory.css": "text/css", "find.js": "text/javascript"}
SLUG = re.compile(r"^[A-Za-z0-9_.~-]{1,64}$")


class PageRoute(APIRoute):
    """A page's route: blank form fields count as not given, and invalid parameters answer the page
    itself with what to fix, where FastAPI's default would answer a JSON problem."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            # A GET form sends every field, the empty ones as `day=`: those mean "any". The others
            # are kept byte for byte, for FastAPI to decode and validate as it does for the JSON search.
            query: bytes = request.scope.get("query_string", b"")
            kept = b"&".join(pair for pair in query.split(b"&") if pair.partition(b"=")[2].strip(b"+"))
            request = Request({**request.scope, "query_string": kept}, request.receive)
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return render.search_page(request, errors=render.field_errors(exc.errors()), status=422)

        return handle


router = APIRouter(tags=["pages"], route_class=PageRoute)


@router.get("/find", response_class=HTMLResponse, include_in_schema=False)
async def read_find_page(request: Request, params: Search) -> HTMLResponse:
    """Search the directory; `view=soon` lists the meetings starting in the next two hours."""
    soon = request.query_params.get("view") == "soon"
    if soon and params.starting_within_hours is None:
        params = dataclasses.replace(params, starting_within_hours=render.SOON_HOURS)
    try:
        found = await directory_api.run_search(request, params)
    except Problem as exc:
        return render.search_page(
            request, params=params, soon=soon, errors=[exc.detail or exc.title], status=exc.status
        )
    return render.search_page(request, params=params, soon=soon, found=found, now=datetime.now(UTC))


@router.get("/find/{slug}", response_class=HTMLResponse, include_in_schema=False)
async def read_meeting_page(request: Request, slug: str, db: Db) -> HTMLResponse:
    """A meeting's page: when, where, how to join online, its next dates and an add-to-calendar link."""
    if not SLUG.match(slug):
        return render.not_found(request)
    try:
        meeting = await service.public_meeting(db, slug)
    except Problem as exc:
        if exc.status != 404:
            raise
        return render.not_found(request)
    return render.meeting_page(
        request,
        meeting,
        org_name=directory_api.org_name(request, meeting.org),
        upcoming=directory_api.upcoming(meeting),
        now=datetime.now(UTC),
    )


@router.get("/static/meetings/{name}", include_in_schema=False)
async def read_asset(name: str) -> Response:
    """The pages' stylesheet and script, served with the service (never from a CDN)."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound("file")
    headers = {"Cache-Control": "public, max-age=3600"}
    return FileResponse(STATIC / name, media_type=media_type, headers=headers)
