"""Spans as insights keeps them, and who may see what. No I/O."""

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from google.protobuf.json_format import Parse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from shared.auth.principal import Principal, Role
from shared.network import Network
from shared.telemetry import CASE_ID, FACTS, ORG, is_allowed

SPAN_ERROR = 2  # OTLP Status.STATUS_CODE_ERROR
MAX_NAME = 200  # span names are routes and subjects; a longer one is not ours
# Allow-listed values are ids, routes and counts: bounded, so no span can grow a stored chunk past reason.
MAX_VALUE = 256
MAX_ITEMS = 16


@dataclass(frozen=True)
class Fact:
    """A domain fact a service recorded on a span (shared.telemetry.record_fact)."""

    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(frozen=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int
    attributes: dict[str, Any]
    # Other traces this span points at: for a request from outside, the trace the caller claimed.
    links: tuple[tuple[str, str], ...] = ()
    facts: tuple[Fact, ...] = ()

    @property
    def org(self) -> str | None:
        value = self.attributes.get(ORG)
        return value if isinstance(value, str) else None

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6

    @property
    def error(self) -> bool:
        return self.status_code == SPAN_ERROR


@dataclass(frozen=True)
class Export:
    """The spans of one OTLP export that insights keeps, and how many it refused (and why)."""

    spans: list[SpanRecord]
    rejected: int = 0
    reason: str = ""


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value[:MAX_VALUE]
    if kind in {"bool_value", "int_value", "double_value"}:
        return getattr(v, kind)
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values[:MAX_ITEMS]]
    return None


def export_from_protobuf(body: bytes) -> ExportTraceServiceRequest:
    export = ExportTraceServiceRequest()
    export.ParseFromString(body)
    return export


def export_from_json(body: bytes) -> ExportTraceServiceRequest:
    """OTLP/JSON, whose trace and span ids are hex (protobuf's JSON mapping reads bytes as base64)."""
    data = json.loads(body)
    for resource_spans in _list(data, "resourceSpans"):
        for scope_spans in _list(resource_spans, "scopeSpans"):
            for span in _list(scope_spans, "spans"):
                _ids_from_hex(span, ("traceId", "spanId", "parentSpanId"))
                for link in _list(span, "links"):
                    _ids_from_hex(link, ("traceId", "spanId"))
    return Parse(json.dumps(data), ExportTraceServiceRequest(), ignore_unknown_fields=True)


def _list(parent: Any, key: str) -> list[Any]:
    found = parent.get(key, []) if isinstance(parent, dict) else []
    return found if isinstance(found, list) else []


def _ids_from_hex(item: Any, keys: tuple[str, ...]) -> None:
    for key in keys:
        value = item.get(key) if isinstance(item, dict) else None
        if isinstance(value, str) and value:
            try:
                item[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                pass  # not hex: left as it is, and a malformed id refuses its span alone


def _problem(span: Span) -> str | None:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return "a trace id must be 16 bytes, not all zero"
    if len(span.span_id) != 8 or not any(span.span_id):
        return "a span id must be 8 bytes, not all zero"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return "a parent span id must be 8 bytes"
    if not span.start_time_unix_nano or span.end_time_unix_nano < span.start_time_unix_nano:
        return "a span needs a start time, and an end time not before it"
    return None


def spans_from_otlp(request: ExportTraceServiceRequest) -> Export:
    """Flatten an OTLP export; attributes off the allow-list are dropped here too (defence in depth).

    A span that breaks the format is refused alone, and counted as rejected (OTLP's partial success):
    the rest of the export is kept. Of a span's events only facts are kept: the others (exceptions)
    may carry messages with personal data in them.
    """
    records = []
    rejected, reason = 0, ""
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        service = str(resource.get("service.name", "unknown"))[:MAX_NAME]
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if problem := _problem(span):
                    rejected, reason = rejected + 1, problem
                    continue
                records.append(
                    SpanRecord(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name[:MAX_NAME],
                        service=service,
                        kind=span.kind,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_code=span.status.code,
                        attributes={a.key: _value(a.value) for a in span.attributes if is_allowed(a.key)},
                        links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                        facts=tuple(
                            Fact(
                                e.name,
                                e.time_unix_nano,
                                {a.key: _value(a.value) for a in e.attributes if is_allowed(a.key)},
                            )
                            for e in span.events
                            if e.name in FACTS
                        ),
                    )
                )
    return Export(records, rejected, reason)


def orgs_visible_to(caller: Principal, network: Network) -> frozenset[str]:
    """A span is shown only to the organization its `rn.org` names, and to network admins of that
    organization's region. A span naming no organization (work of no one organization: a relay
    round, an unauthenticated request) is shown to nobody here: sharing a trace id with someone
    (an id anyone may send in a `traceparent`) must not show them what we did for someone else.
    """
    orgs = {caller.org}
    if Role.NETWORK_ADMIN in caller.roles:
        orgs |= {o.id for o in network.organizations if o.region in caller.regions}
    return frozenset(orgs)


@dataclass(frozen=True)
class TraceSearch:
    start: datetime
    end: datetime
    service: str | None = None
    operation: str | None = None
    status: Literal["ok", "error"] | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    case_id: str | None = None
    request_id: str | None = None  # the trace a request started (its `traceresponse`), or the one it claimed
    limit: int = 20


def matches(span: SpanRecord, search: TraceSearch) -> bool:
    case = span.attributes.get(CASE_ID)
    linked = {t for t, _ in span.links}
    return (
        search.start.timestamp() * 1e9 <= span.start_ns < search.end.timestamp() * 1e9
        and (search.service is None or span.service == search.service)
        and (search.operation is None or span.name == search.operation)
        and (search.status is None or span.error == (search.status == "error"))
        and (search.min_ms is None or span.duration_ms >= search.min_ms)
        and (search.max_ms is None or span.duration_ms <= search.max_ms)
        and (search.case_id is None or case == search.case_id)
        and (search.request_id is None or search.request_id in {span.trace_id, *linked})
    )


@dataclass(frozen=True)
class TraceHit:
    trace_id: str
    service: str  # of the matching span that started first
    operation: str
    start_ns: int
    duration_ms: float
    error: bool  # any matching span failed
    matched: int  # how many of the trace's spans matched


def hits(spans: list[SpanRecord], limit: int) -> list[TraceHit]:
    """One hit per trace, newest first, from spans that matched a search (newest first)."""
    by_trace: dict[str, list[SpanRecord]] = {}
    for span in spans:
        if span.trace_id in by_trace or len(by_trace) < limit:
            by_trace.setdefault(span.trace_id, []).append(span)
    found = []
    for trace_id, matched in by_trace.items():
        first = min(matched, key=lambda s: s.start_ns)
        found.append(
            TraceHit(
                trace_id=trace_id,
                service=first.service,
                operation=first.name,
                start_ns=first.start_ns,
                duration_ms=(max(s.end_ns for s in matched) - first.start_ns) / 1e6,
                error=any(s.error for s in matched),
                matched=len(matched),
            )
        )
    return sorted(found, key=lambda h: h.start_ns, reverse=True)
