"""The Meeting Guide feed: export (per organization and network-wide) and import (file, URL or upload)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from services.meetings.deps import CurrentNetwork, Db, ListedOrganization, OrgAdmin, Publisher, ReadyDirectory
from services.meetings.feed import service
from services.meetings.feed.model import Report
from shared.http import Problem, ProblemDetails
from shared.inputs import TimeZone

router = APIRouter(tags=["meetings"])

FEED_SCHEMA = "contracts/meeting_guide/feed.schema.json"
FEED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": f"a Meeting Guide feed, valid against {FEED_SCHEMA}",
        "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}},
    }
}
# Apps poll feeds; a minute old is fresh enough, and a cache in front spares writing the feed per poll.
CACHE = {"Cache-Control": "public, max-age=60"}
LOADING: dict[int | str, dict[str, Any]] = {
    503: {"model": ProblemDetails, "description": "the directory is still loading"}
}
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


def _streamed(directory: ReadyDirectory, org: str | None) -> StreamingResponse:
    # A plain iterator: Starlette runs it on a worker thread, so writing 20,000 meetings out does not
    # hold up the event loop (the meetings themselves were listed on it, see published_feed).
    return StreamingResponse(
        service.published_feed(directory, org), media_type="application/json", headers=CACHE
    )


@router.get("/feeds/meetings.json", response_class=StreamingResponse, responses={**FEED, **LOADING})
async def get_network_feed(directory: ReadyDirectory) -> StreamingResponse:
    """Every organization's meetings as one Meeting Guide feed (public)."""
    return _streamed(directory, None)


@router.get(
    "/feeds/{org}/meetings.json",
    response_class=StreamingResponse,
    responses={
        **FEED,
        **LOADING,
        404: {"model": ProblemDetails, "description": "no such organization"},
    },
)
async def get_organization_feed(
    directory: ReadyDirectory, organization: ListedOrganization
) -> StreamingResponse:
    """One organization's meetings as a Meeting Guide feed (public)."""
    return _streamed(directory, organization.id)


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
