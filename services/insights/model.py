"""Spans as insights keeps them, and who may see a trace. No I/O."""

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from shared.auth.principal import Principal, Role
from shared.network import Network
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
    # Other traces this span points at: for a request from outside, the trace the caller claimed.
    links: tuple[tuple[str, str], ...] = ()

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
                        links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                    )
                )
    return records


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
