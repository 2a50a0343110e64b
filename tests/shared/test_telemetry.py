from datetime import timedelta

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.telemetry import ORG, AllowListSpanProcessor


def test_spans_leave_with_allow_listed_attributes_only() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(AllowListSpanProcessor(SimpleSpanProcessor(exporter)))
    with provider.get_tracer("test").start_as_current_span("POST /crisis/alerts") as span:
        span.set_attribute(ORG, "org-a")
        span.set_attribute("http.route", "/crisis/alerts")
        span.set_attribute("http.url", "http://x/crisis/alerts?phone=5551234")
        span.set_attribute("enduser.email", "person@example.org")
        span.add_event(
            "exception", {"exception.type": "ValueError", "exception.message": "Jane Doe, 555-1234"}
        )

    (exported,) = exporter.get_finished_spans()
    assert dict(exported.attributes or {}) == {ORG: "org-a", "http.route": "/crisis/alerts"}
    assert dict(exported.events[0].attributes or {}) == {"exception.type": "ValueError"}
    assert exported.context.trace_id == span.get_span_context().trace_id


def test_database_commands_become_spans_with_no_query_content() -> None:
    from pymongo import monitoring

    from shared.dbtrace import CommandSpans

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(AllowListSpanProcessor(SimpleSpanProcessor(exporter)))
    spans = CommandSpans(provider)
    command = {"find": "cases", "filter": {"member_id": "jane"}}
    started = monitoring.CommandStartedEvent(command, "rn_crisis", 7, ("localhost", 27017), None)
    spans.started(started)
    took = timedelta(milliseconds=1)
    spans.succeeded(monitoring.CommandSucceededEvent(took, {"ok": 1}, "find", 7, ("localhost", 27017), 7))
    spans.started(monitoring.CommandStartedEvent({"ping": 1}, "admin", 8, ("localhost", 27017), None))

    (span,) = exporter.get_finished_spans()
    assert span.name == "find cases"
    assert dict(span.attributes or {}) == {
        "db.system.name": "mongodb",
        "db.operation.name": "find",
        "db.collection.name": "cases",
    }
