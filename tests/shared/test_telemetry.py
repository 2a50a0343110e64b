from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.instrumentation.propagators import TraceResponsePropagator, set_global_response_propagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.telemetry import (
    ORG,
    AllowListSpanProcessor,
    OrgFromParentSpanProcessor,
    instrument_http,
)


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


def test_spans_under_an_organizations_work_are_attributed_to_it() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(OrgFromParentSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /crisis/alerts") as request:
        with tracer.start_as_current_span("before the token was read"):
            pass
        request.set_attribute(ORG, "org-a")
        with tracer.start_as_current_span("insert cases"), tracer.start_as_current_span("publish"):
            pass
    with tracer.start_as_current_span("outbox relay round"):
        pass

    orgs = {s.name: (s.attributes or {}).get(ORG) for s in exporter.get_finished_spans()}
    assert orgs == {
        "before the token was read": None,
        "insert cases": "org-a",
        "publish": "org-a",
        "POST /crisis/alerts": "org-a",
        "outbox relay round": None,
    }


def test_a_callers_traceparent_starts_a_new_trace_linked_to_the_claimed_one() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    set_global_response_propagator(TraceResponsePropagator())  # type: ignore[no-untyped-call]
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"trace_id": format(trace.get_current_span().get_span_context().trace_id, "032x")}

    instrument_http(app, provider)
    claimed_trace, claimed_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with TestClient(app) as client:
        r = client.get("/ping", headers={"traceparent": f"00-{claimed_trace}-{claimed_span}-01"})

    (server,) = [s for s in exporter.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
    ours = format(server.context.trace_id, "032x")
    assert ours != claimed_trace and r.json()["trace_id"] == ours
    assert server.parent is None
    (link,) = server.links
    assert (format(link.context.trace_id, "032x"), format(link.context.span_id, "016x")) == (
        claimed_trace,
        claimed_span,
    )
    assert r.headers["traceresponse"].split("-")[1] == ours
