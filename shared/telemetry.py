"""OpenTelemetry setup shared by every service, and the allow-list that keeps personal data out of traces.

Exporter settings follow the standard OTEL_* variables; RN_OTLP_TRACES_ENDPOINT is the local default.
"""

import os
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.propagators import TraceResponsePropagator, set_global_response_propagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.settings import ServiceSettings

# Our own span attributes, named once.
ORG = "rn.org"
EVENT_TYPE = "rn.event.type"
EVENT_ID = "rn.event.id"
CASE_ID = "rn.crisis.case_id"
CRISIS_LEVEL = "rn.crisis.level"
USER_ID = "rn.user.id"

# Domain facts: span events (`record_fact`) that insights turns into the admins' dashboard figures
# (services/insights/boards.py). A fact names what happened; its attributes are the dimensions below
# and one measured duration. Never a person: levels, channels, streams and meeting ids only.
FACT_CRISIS_OPENED = "rn.crisis.opened"  # a new case: CRISIS_LEVEL
FACT_CRISIS_ESCALATED = "rn.crisis.escalated"  # a level fired: CRISIS_LEVEL, CATCH_ALL
FACT_CRISIS_FIRST_DELIVERY = "rn.crisis.first_delivery"  # DURATION_MS: alert to first delivery
FACT_CRISIS_ACKNOWLEDGED = "rn.crisis.acknowledged"  # DURATION_MS since the alert
FACT_CRISIS_FOLLOW_UP_DONE = "rn.crisis.follow_up_done"  # the caring contact: ON_TIME (within 24 h)
FACT_NOTIFICATION_DELIVERED = "rn.notification.delivered"  # CHANNEL, CATEGORY, DURATION_MS since the event
FACT_NOTIFICATION_FAILED = "rn.notification.failed"  # CHANNEL, CATEGORY (gave up on that channel)
FACT_NOTIFICATION_FALLBACK = "rn.notification.fallback"  # CHANNEL: the one a crisis message left
FACT_MESSAGE_REDELIVERED = "rn.messaging.redelivered"  # STREAM: a consumer got a message again
FACT_MESSAGE_DEAD_LETTERED = "rn.messaging.dead_lettered"  # STREAM
FACT_MENTORING_REQUESTED = "rn.mentoring.requested"  # a member asked for a mentor
FACT_MENTORING_MATCHED = "rn.mentoring.matched"  # DURATION_MS from the request to the accepted match
FACT_MENTORING_CHECK_IN_OVERDUE = "rn.mentoring.check_in_overdue"
FACT_MEETING_ATTENDED = "rn.meetings.attended"  # MEETING_ID
FACTS = frozenset(
    {
        FACT_CRISIS_OPENED,
        FACT_CRISIS_ESCALATED,
        FACT_CRISIS_FIRST_DELIVERY,
        FACT_CRISIS_ACKNOWLEDGED,
        FACT_CRISIS_FOLLOW_UP_DONE,
        FACT_NOTIFICATION_DELIVERED,
        FACT_NOTIFICATION_FAILED,
        FACT_NOTIFICATION_FALLBACK,
        FACT_MESSAGE_REDELIVERED,
        FACT_MESSAGE_DEAD_LETTERED,
        FACT_MENTORING_REQUESTED,
        FACT_MENTORING_MATCHED,
        FACT_MENTORING_CHECK_IN_OVERDUE,
        FACT_MEETING_ATTENDED,
    }
)
# The attributes a fact may carry.
DURATION_MS = "rn.duration_ms"
CATCH_ALL = "rn.crisis.catch_all"
ON_TIME = "rn.crisis.on_time"
CHANNEL = "rn.notification.channel"
CATEGORY = "rn.notification.category"
STREAM = "rn.messaging.stream"
MEETING_ID = "rn.meeting.id"

# The dimensions a fact is counted by (DURATION_MS is its measure): anything else on a fact, an id
# above all, is not made a dimension, so no figure is ever kept per person or per case.
FACT_DIMENSIONS = frozenset({CRISIS_LEVEL, CATCH_ALL, ON_TIME, CHANNEL, CATEGORY, STREAM, MEETING_ID})

# Every `rn.` attribute a span or fact may keep: one list, so a new one is a decision, not an accident.
OUR_ATTRIBUTES = frozenset(
    {ORG, EVENT_TYPE, EVENT_ID, CASE_ID, CRISIS_LEVEL, USER_ID}
    | {DURATION_MS, CATCH_ALL, ON_TIME, CHANNEL, CATEGORY, STREAM, MEETING_ID}
)

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
    return key in ALLOWED_ATTRIBUTES or key in OUR_ATTRIBUTES


def allowed_only(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (attributes or {}).items() if is_allowed(k)}


class OrgFromParentSpanProcessor(SpanProcessor):
    """A span started inside one organization's work (a request after its token was verified, a
    handler after it read the event's `org`) is attributed to that organization too: the database,
    publish and delivery spans under it are part of that organization's trace, and of no one else's."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        parent = trace.get_current_span(parent_context)
        org = parent.attributes.get(ORG) if isinstance(parent, Span) and parent.attributes else None
        if org is not None and ORG not in (span.attributes or {}):
            span.set_attribute(ORG, org)


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


# How long a stopping service keeps handing its last spans to the collector. The SDK waits up to 30 s
# and retries each batch for 10 s: with the collector unreachable (down, or a service stopped first,
# as insights is when the network stops) every SIGTERM took 13-18 s, past an orchestrator's grace
# period, so a rolling deploy killed the service instead of letting it stop.
SHUTDOWN_FLUSH_SECONDS = 2.0


class BatchSpanProcessorStoppingInTime(BatchSpanProcessor):
    """The SDK's batch processor, whose shutdown gives up on unsent spans after `flush_seconds`."""

    def __init__(self, exporter: SpanExporter, flush_seconds: float = SHUTDOWN_FLUSH_SECONDS) -> None:
        super().__init__(exporter)
        self._flush_millis = int(flush_seconds * 1000)

    def shutdown(self) -> None:
        # The public shutdown() passes no bound. With one, the SDK stops exporting further batches once
        # it is spent and shuts the exporter down, which ends the retry it is waiting in at once.
        self._batch_processor.shutdown(timeout_millis=self._flush_millis)


# This process's provider, for spans started outside a request or a message (`background_tracer`).
# Not made the global one: FastAPI's own telemetry starts a second span per request as soon as there
# is one, and that span would join the trace a caller names (see CallerTraceAsLink).
_provider: TracerProvider | None = None


def background_tracer() -> trace.Tracer:
    """For spans started outside a request or a message (a timer firing, a send, a provider's report),
    so they and their facts are recorded like the others."""
    return (_provider or trace.get_tracer_provider()).get_tracer("rn")


def setup_telemetry(settings: ServiceSettings, version: str = "0.1.0") -> TracerProvider:
    resource = Resource.create(
        {
            "service.name": settings.service_name,
            "service.version": version,
            "deployment.environment": settings.environment,
        }
    )
    provider = TracerProvider(resource=resource)
    global _provider
    _provider = provider
    provider.add_span_processor(OrgFromParentSpanProcessor())
    # Callers learn the trace their request started (a `traceresponse` header), since the one they
    # send is not joined (see CallerTraceAsLink).
    set_global_response_propagator(TraceResponsePropagator())  # type: ignore[no-untyped-call]
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or settings.otlp_traces_endpoint
    if endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
        provider.add_span_processor(AllowListSpanProcessor(BatchSpanProcessorStoppingInTime(exporter)))
    return provider


TRACE_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})
CALLER_TRACE = "rn.caller_trace"  # the ASGI scope key where the caller's claimed span context waits


class CallerTraceAsLink:
    """ASGI middleware, outside the tracing one: an HTTP request starts a trace of its own.

    A trace id from a caller is a claim, not a credential: joined, it would put our spans into any
    trace the caller names, someone else's included. The caller's span context is kept as a link
    on the request's span (`link_caller_trace`), so the two can still be followed from one another.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(k in TRACE_HEADERS for k, _ in scope["headers"]):
            claimed = {
                k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in TRACE_HEADERS
            }
            caller = trace.get_current_span(
                TraceContextTextMapPropagator().extract(claimed)
            ).get_span_context()
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k not in TRACE_HEADERS]}
            if caller.is_valid:
                scope[CALLER_TRACE] = caller
        await self._app(scope, receive, send)


def link_caller_trace(span: trace.Span, scope: dict[str, Any]) -> None:
    """`server_request_hook` of the FastAPI instrumentation: the link CallerTraceAsLink prepared."""
    caller = scope.get(CALLER_TRACE)
    if caller is not None and span.is_recording():
        span.add_link(caller)


def instrument_http(app: FastAPI, tracer_provider: TracerProvider) -> None:
    """A span per HTTP request, in a trace of its own (CallerTraceAsLink)."""
    # No spans per ASGI message ("http send", "http receive"): they double the spans of every
    # request, and of every server-sent event, and say nothing the request span does not.
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        excluded_urls="health",
        exclude_spans=["receive", "send"],
        server_request_hook=link_caller_trace,
    )
    instrumented = app.build_middleware_stack
    app.build_middleware_stack = lambda: CallerTraceAsLink(instrumented())  # type: ignore[method-assign]


def tag_current_span(attributes: Mapping[str, str | int]) -> None:
    """Set our `rn.*` attributes (the constants above) on the active span."""
    span = trace.get_current_span()
    for key, value in attributes.items():
        span.set_attribute(key, value)


def record_fact(fact: str, attributes: Mapping[str, str | int | float | bool] | None = None) -> None:
    """Record a domain fact (one of FACTS) on the active span, for the dashboards."""
    if fact not in FACTS:
        raise ValueError(f"{fact} is not in shared.telemetry.FACTS")
    trace.get_current_span().add_event(fact, dict(attributes or {}))
