"""Insights HTTP routes: the OTLP/HTTP receiver, the dashboards' figures and the trace views."""

import hmac
import zlib
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from google.protobuf.json_format import MessageToJson, ParseError
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)
from pydantic import AwareDatetime, BaseModel

from services.insights import boards, model, service
from services.insights.deps import Admin, CurrentNetwork, Db
from services.insights.store import PartlySaved
from shared.http import NotFound, Problem

router = APIRouter(tags=["insights"])
TRACE_ID = r"^[0-9a-f]{32}$"
BoardId = Literal["crisis", "notifications", "people", "services"]


class LinkPublic(BaseModel):
    trace_id: str
    span_id: str


class FactPublic(BaseModel):
    name: str
    time_ns: int
    attributes: dict[str, Any]


class SpanPublic(BaseModel):
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    start_ns: int
    end_ns: int
    status_code: int
    attributes: dict[str, Any]
    links: list[LinkPublic]
    facts: list[FactPublic]


class TracePublic(BaseModel):
    trace_id: str
    services: list[str]
    spans: list[SpanPublic]


class TraceHitPublic(BaseModel):
    trace_id: str
    service: str
    operation: str
    start: datetime
    duration_ms: float
    error: bool
    matched: int


def check_ingest_token(request: Request) -> None:
    expected = request.app.state.settings.otlp_ingest_token
    if expected and not hmac.compare_digest(request.headers.get("authorization", ""), f"Bearer {expected}"):
        raise Problem(401, "Unauthorized", "OTLP exports need the ingest token")


def _decompressed(body: bytes, encoding: str, limit: int) -> bytes:
    """The body as the exporter meant it; a gzip that would grow past `limit` is refused (413)."""
    if encoding in {"", "identity"}:
        return body
    if encoding != "gzip":
        raise Problem(415, "Unsupported Media Type", "send the export plain or with Content-Encoding: gzip")
    plain = b""
    rest = body
    while rest:  # a gzip body may be several members one after another
        inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            plain += inflate.decompress(rest, limit - len(plain) + 1)
        except zlib.error as exc:
            raise Problem(400, "Bad Request", "the body is not valid gzip") from exc
        if len(plain) > limit or inflate.unconsumed_tail:
            raise Problem(413, "Content Too Large", f"an export may be at most {limit} bytes uncompressed")
        if not inflate.eof:
            raise Problem(400, "Bad Request", "the gzip body ends early")
        rest = inflate.unused_data
    return plain


@router.post(
    "/v1/traces",
    responses={
        200: {"content": {"application/x-protobuf": {}}, "description": "in the format of the request"},
        400: {"description": "not an OTLP trace export"},
        401: {"description": "the ingest token is missing or wrong"},
        413: {"description": "the export is too large (compressed or not)"},
        415: {"description": "neither protobuf nor JSON, or an encoding other than gzip"},
        503: {"description": "part of the export could not be stored: send it again"},
    },
    # The body is read raw (protobuf or JSON), so it is described here rather than by a model.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def receive_traces(request: Request, db: Db) -> Response:
    """OTLP/HTTP trace receiver (protobuf or JSON, plain or gzip), as an exporter or a Collector sends.

    A span that breaks the format is refused alone and reported as OTLP's partial success; an export
    that cannot be read at all is refused whole (4xx), and nothing of it is kept.
    """
    check_ingest_token(request)
    limit = request.app.state.settings.max_otlp_body_bytes
    body = await request.body()  # at most max_otlp_body_bytes: the app's body limit refuses more
    body = _decompressed(body, request.headers.get("content-encoding", "").strip().lower(), limit)
    content_type = request.headers.get("content-type", "application/x-protobuf").split(";")[0].strip().lower()
    if content_type not in {"application/json", "application/x-protobuf"}:
        raise Problem(415, "Unsupported Media Type", "send application/x-protobuf or application/json")
    try:
        export = (
            model.export_from_json(body)
            if content_type == "application/json"
            else model.export_from_protobuf(body)
        )
    except (DecodeError, ParseError, ValueError) as exc:
        raise Problem(400, "Bad Request", f"not an OTLP trace export: {type(exc).__name__}") from exc
    try:
        kept = await service.ingest(db, request.app.state.pending, export)
    except PartlySaved as exc:
        # What landed is kept and counted; sent again, it is known and not counted twice.
        raise Problem(
            503, "Service Unavailable", "part of the export could not be stored: send it again"
        ) from exc
    answer = ExportTraceServiceResponse()
    if kept.rejected:
        answer.partial_success.CopyFrom(
            ExportTracePartialSuccess(rejected_spans=kept.rejected, error_message=kept.reason)
        )
    if content_type == "application/json":
        return Response(MessageToJson(answer), media_type="application/json")
    return Response(answer.SerializeToString(), media_type="application/x-protobuf")


def _bounds(start: datetime | None, end: datetime | None, default: timedelta) -> tuple[datetime, datetime]:
    try:
        end = end or datetime.now(UTC)
        start = start or end - default
    except OverflowError as exc:  # a window at the very start of the calendar
        raise Problem(422, "Unprocessable Content", "the window is out of range") from exc
    if end <= start:
        raise Problem(422, "Unprocessable Content", "the end of the window must come after its start")
    return start, end


def _window(start: datetime | None, end: datetime | None, step: boards.Step | None) -> boards.Window:
    start, end = _bounds(start, end, timedelta(hours=24))
    try:
        return boards.window(start, end, step or boards.default_step(end - start))
    except boards.BadWindow as exc:
        raise Problem(422, "Unprocessable Content", str(exc)) from exc


WINDOW_PROBLEMS: dict[int | str, dict[str, Any]] = {422: {"description": "the window is empty or too long"}}


@router.get("/boards/{board_id}", responses=WINDOW_PROBLEMS)
async def read_board(
    board_id: BoardId,
    caller: Admin,
    db: Db,
    network: CurrentNetwork,
    start: Annotated[AwareDatetime | None, Query(description="default: a day before `end`")] = None,
    end: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
    step: Annotated[boards.Step | None, Query(description="default: by the window's length")] = None,
) -> dict[str, Any]:
    """A dashboard's figures, per organization the caller may see (a network admin: each organization
    of their regions and each region merged). A figure is null where its source sent nothing: no data."""
    return await service.dashboard(db, caller, network, boards.BOARDS[board_id], _window(start, end, step))


@router.get("/traces", responses=WINDOW_PROBLEMS)
async def search_traces(
    caller: Admin,
    db: Db,
    network: CurrentNetwork,
    start: Annotated[AwareDatetime | None, Query(description="default: an hour before `end`")] = None,
    end: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
    service_name: Annotated[str | None, Query(alias="service", max_length=200)] = None,
    operation: Annotated[str | None, Query(max_length=200)] = None,
    status: Literal["ok", "error"] | None = None,
    min_ms: Annotated[float | None, Query(ge=0)] = None,
    max_ms: Annotated[float | None, Query(ge=0)] = None,
    case_id: Annotated[str | None, Query(max_length=100)] = None,
    request_id: Annotated[str | None, Query(pattern=TRACE_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[TraceHitPublic]:
    """Traces with spans that match, newest first: only spans attributed to the organizations the
    caller may see are searched and counted."""
    start, end = _bounds(start, end, timedelta(hours=1))
    search = model.TraceSearch(
        start, end, service_name, operation, status, min_ms, max_ms, case_id, request_id, limit
    )
    found = await service.search(db, caller, network, search)
    return [
        TraceHitPublic(
            trace_id=h.trace_id,
            service=h.service,
            operation=h.operation,
            start=datetime.fromtimestamp(h.start_ns / 1e9, UTC),
            duration_ms=h.duration_ms,
            error=h.error,
            matched=h.matched,
        )
        for h in found
    ]


@router.get("/traces/{trace_id}")
async def read_trace(
    trace_id: Annotated[str, Path(pattern=TRACE_ID)], caller: Admin, db: Db, network: CurrentNetwork
) -> TracePublic:
    """The spans of one trace attributed to the caller's organization (a network admin: its regions')."""
    spans = await service.trace_for(db, caller, network, trace_id)
    if not spans:
        raise NotFound("trace")
    return TracePublic(
        trace_id=trace_id,
        services=sorted({s.service for s in spans}),
        spans=[
            SpanPublic(
                **{k: getattr(s, k) for k in SpanPublic.model_fields if k not in {"links", "facts"}},
                links=[LinkPublic(trace_id=t, span_id=sp) for t, sp in s.links],
                facts=[FactPublic(name=f.name, time_ns=f.time_ns, attributes=f.attributes) for f in s.facts],
            )
            for s in spans
        ],
    )
