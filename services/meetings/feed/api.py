"""The Meeting Guide feed: export (per organization and network-wide) and import (file, URL or upload)."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from contracts.subjects import ORG_TOKEN
from services.meetings.deps import Db, OrgAdmin, Publisher
from services.meetings.feed import service
from services.meetings.feed.model import Report
from shared.deps import CurrentNetwork
from shared.http import NotFound, Problem, ProblemDetails
from shared.inputs import TimeZone

router = APIRouter(tags=["meetings"])

OrgId = Annotated[str, Path(pattern=ORG_TOKEN, description="the organization's id in the network")]
FEED_SCHEMA = "contracts/meeting_guide/feed.schema.json"
FEED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": f"a Meeting Guide feed, valid against {FEED_SCHEMA}",
        "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}},
    }
}
# Apps poll feeds; a minute old is fresh enough and spares the database a scan per poll.
CACHE = {"Cache-Control": "public, max-age=60"}
UPLOAD = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


async def _streamed(db: Db, org: str | None) -> StreamingResponse:
    chunks = service.feed_json(db, org)
    # The first batch is read before the answer starts, so a database that is down is a 503, not a
    # feed cut short.
    first = await anext(chunks)

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return StreamingResponse(body(), media_type="application/json", headers=CACHE)


@router.get("/feeds/meetings.json", response_class=StreamingResponse, responses=FEED)
async def get_network_feed(db: Db) -> StreamingResponse:
    """Every organization's meetings as one Meeting Guide feed (public)."""
    return await _streamed(db, None)


@router.get(
    "/feeds/{org}/meetings.json",
    response_class=StreamingResponse,
    responses={**FEED, 404: {"model": ProblemDetails, "description": "no such organization"}},
)
async def get_organization_feed(org: OrgId, db: Db, network: CurrentNetwork) -> StreamingResponse:
    """One organization's meetings as a Meeting Guide feed (public)."""
    if network.organization(org) is None:
        raise NotFound("organization")
    return await _streamed(db, org)


@router.post(
    "/meetings/import",
    openapi_extra=UPLOAD,
    responses={
        413: {"model": ProblemDetails, "description": "the file is over the upload limit"},
        422: {"model": ProblemDetails, "description": "not a Meeting Guide feed (a JSON array of objects)"},
    },
)
async def import_meetings(
    request: Request,
    caller: OrgAdmin,
    db: Db,
    publisher: Publisher,
    network: CurrentNetwork,
    timezone: Annotated[
        TimeZone | None, Query(description="for items without one; default: the organization's")
    ] = None,
) -> Report:
    """Import a Meeting Guide feed (JSON body or file upload): a line per item says what happened."""
    organization = network.organization(caller.org)
    default_timezone = timezone or (organization.time_zone if organization else "UTC")
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=1)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Problem(422, "Unprocessable Content", "upload the feed as the form field 'file'")
        raw = await upload.read()
    else:
        raw = await request.body()
    items = service.parse_feed(raw)
    return await service.import_feed(db, publisher, caller.org, items, default_timezone)
