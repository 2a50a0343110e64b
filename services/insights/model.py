"""Spans as insights keeps them, and who may see a trace. No I/O."""

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from shared.telemetry import ORG, is_allowed


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

    @property
    def org(self) -> str | None:
        value = self.attributes.get(ORG)
        return value if isinstance(value, str) else None


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind in {"string_value", "bool_value", "int_value", "double_value"}:
        return getattr(v, kind)
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return None


def spans_from_otlp(request: ExportTraceServiceRequest) -> list[SpanRecord]:
    """Flatten an OTLP export; attributes off the allow-list are dropped here too (defence in depth)."""
    records = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        service = str(resource.get("service.name", "unknown"))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                records.append(
                    SpanRecord(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        service=service,
                        kind=span.kind,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_code=span.status.code,
                        attributes={a.key: _value(a.value) for a in span.attributes if is_allowed(a.key)},
                    )
                )
    return records


def visible_to(spans: list[SpanRecord], org: str) -> list[SpanRecord]:
    """A trace belongs to the organizations its spans name; others see nothing of it.

    Spans that name no organization (transport spans around ours) are shown with the trace;
    spans naming another organization never are.
    """
    if not any(s.org == org for s in spans):
        return []
    return sorted((s for s in spans if s.org in (org, None)), key=lambda s: s.start_ns)
