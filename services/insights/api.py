"""Insights HTTP routes: the OTLP/HTTP receiver and the trace view."""

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from google.protobuf.json_format import Parse, ParseError
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from pydantic import BaseModel

from services.insights import service
from services.insights.deps import Admin, CurrentNetwork, Db
from shared.http import NotFound, Problem

router = APIRouter(tags=["insights"])


class LinkPublic(BaseModel):
    trace_id: str
    span_id: str


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


class TracePublic(BaseModel):
    trace_id: str
    services: list[str]
    spans: list[SpanPublic]


def check_ingest_token(request: Request) -> None:
    expected = request.app.state.settings.otlp_ingest_token
    if expected and not hmac.compare_digest(request.headers.get("authorization", ""), f"Bearer {expected}"):
        raise Problem(401, "Unauthorized", "OTLP exports need the ingest token")


@router.post(
    "/v1/traces",
    responses={
        200: {"content": {"application/x-protobuf": {}}, "description": "in the format of the request"},
        400: {"description": "not an OTLP trace export"},
        401: {"description": "the ingest token is missing or wrong"},
        415: {"description": "neither protobuf nor JSON"},
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
    """OTLP/HTTP trace receiver (protobuf or JSON), as an OpenTelemetry exporter or Collector sends."""
    check_ingest_token(request)
    body = await request.body()  # at most max_otlp_body_bytes: the app's body limit refuses more
    content_type = request.headers.get("content-type", "application/x-protobuf").split(";")[0].strip()
    export = ExportTraceServiceRequest()
    try:
        if content_type == "application/json":
            Parse(body.decode(), export, ignore_unknown_fields=True)
        elif content_type == "application/x-protobuf":
            export.ParseFromString(body)
        else:
            raise Problem(415, "Unsupported Media Type", "send application/x-protobuf or application/json")
    except (DecodeError, ParseError, UnicodeDecodeError) as exc:
        raise Problem(400, "Bad Request", f"not an OTLP trace export: {type(exc).__name__}") from exc
    await service.ingest(db, export)
    if content_type == "application/json":
        return Response(b"{}", media_type="application/json")
    return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")


@router.get("/traces/{trace_id}")
async def read_trace(
    trace_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], caller: Admin, db: Db, network: CurrentNetwork
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
                **{k: getattr(s, k) for k in SpanPublic.model_fields if k != "links"},
                links=[LinkPublic(trace_id=t, span_id=sp) for t, sp in s.links],
            )
            for s in spans
        ],
    )
