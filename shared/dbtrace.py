"""Database spans for PyMongo's async client, from its command-monitoring events.

A listener given to the client (DESIGN.md section 7) sees every command of `AsyncMongoClient`, in
the task that issued it, so the span joins the request's trace; we did not take the
opentelemetry-instrumentation-pymongo package, whose support for the async client we could not confirm.
Only the command name and collection are recorded: never filters or documents.
"""

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from pymongo import monitoring

# Chatter of the driver itself, not work a request asked for.
IGNORED = frozenset({"hello", "isMaster", "ismaster", "ping", "endSessions", "saslStart", "saslContinue"})


class CommandSpans(monitoring.CommandListener):
    def __init__(self, tracer_provider: TracerProvider) -> None:
        self._tracer = tracer_provider.get_tracer("rn.mongodb")
        self._open: dict[int, trace.Span] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in IGNORED:
            return
        collection = event.command.get(event.command_name)
        span = self._tracer.start_span(
            f"{event.command_name} {collection}" if isinstance(collection, str) else event.command_name,
            kind=SpanKind.CLIENT,
            attributes={
                "db.system.name": "mongodb",
                "db.operation.name": event.command_name,
                **({"db.collection.name": collection} if isinstance(collection, str) else {}),
            },
        )
        self._open[event.request_id] = span

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        span = self._open.pop(event.request_id, None)
        if span:
            span.end()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        span = self._open.pop(event.request_id, None)
        if span:
            span.set_status(Status(StatusCode.ERROR))
            span.set_attribute(
                "error.type", type(event.failure).__name__ if event.failure else "CommandFailed"
            )
            span.end()
