"""OpenTelemetry setup shared by every service, and the allow-list that keeps personal data out of traces.

Exporter settings follow the standard OTEL_* variables; RN_OTLP_TRACES_ENDPOINT is the local default.
"""

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from shared.settings import ServiceSettings

# Our own span attributes, named once.
ORG = "rn.org"
EVENT_TYPE = "rn.event.type"
EVENT_ID = "rn.event.id"
CASE_ID = "rn.crisis.case_id"
CRISIS_LEVEL = "rn.crisis.level"
USER_ID = "rn.user.id"

# Everything else a span may keep: protocol facts, never payloads, names, addresses or free text.
ALLOWED_ATTRIBUTES = frozenset(
    {
        "http.method",
        "http.request.method",
        "http.route",
        "http.status_code",
        "http.response.status_code",
        "http.scheme",
        "url.scheme",
        "network.protocol.version",
        "server.port",
        "messaging.system",
        "messaging.operation",
        "messaging.operation.name",
        "messaging.operation.type",
        "messaging.destination.name",
        "messaging.destination_publish.name",
        "messaging.message.id",
        "messaging.message.conversation_id",
        "messaging.message.payload_size_bytes",
        "messaging.message.body.size",
        "messaging.batch.message_count",
        "messaging.consumer.group.name",
        "db.system",
        "db.system.name",
        "db.operation",
        "db.operation.name",
        "db.collection.name",
        "error.type",
        "exception.type",
        "exception.escaped",
    }
)


def is_allowed(key: str) -> bool:
    return key in ALLOWED_ATTRIBUTES or key.startswith("rn.")


def allowed_only(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (attributes or {}).items() if is_allowed(k)}


class AllowListSpanProcessor(SpanProcessor):
    """Passes each finished span on with only allow-listed attributes (span and event attributes)."""

    def __init__(self, inner: SpanProcessor) -> None:
        self._inner = inner

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self._inner.on_end(
            ReadableSpan(
                name=span.name,
                context=span.context,
                parent=span.parent,
                resource=span.resource,
                attributes=allowed_only(span.attributes),
                events=[Event(e.name, allowed_only(e.attributes), e.timestamp) for e in span.events],
                links=span.links,
                kind=span.kind,
                status=span.status,
                start_time=span.start_time,
                end_time=span.end_time,
                instrumentation_scope=span.instrumentation_scope,
            )
        )

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def setup_telemetry(settings: ServiceSettings, version: str = "0.1.0") -> TracerProvider:
    resource = Resource.create(
        {
            "service.name": settings.service_name,
            "service.version": version,
            "deployment.environment": settings.environment,
        }
    )
    provider = TracerProvider(resource=resource)
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or settings.otlp_traces_endpoint
    if endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
        provider.add_span_processor(AllowListSpanProcessor(BatchSpanProcessor(exporter)))
    return provider


def tag_current_span(attributes: Mapping[str, str | int]) -> None:
    """Set our `rn.*` attributes (the constants above) on the active span."""
    span = trace.get_current_span()
    for key, value in attributes.items():
        span.set_attribute(key, value)
