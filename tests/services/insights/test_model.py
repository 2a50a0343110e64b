from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from services.insights.model import SpanRecord, spans_from_otlp, visible_to


def record(span_id: str, org: str | None, start: int) -> SpanRecord:
    attrs = {"rn.org": org} if org else {}
    return SpanRecord("t" * 32, span_id, None, "s", "crisis", 1, start, start + 1, 0, attrs)


def test_a_trace_is_visible_only_to_the_organizations_its_spans_name() -> None:
    spans = [record("2", "org-a", 2), record("1", None, 1), record("3", "org-b", 3)]
    assert [s.span_id for s in visible_to(spans, "org-a")] == ["1", "2"]
    assert [s.span_id for s in visible_to(spans, "org-b")] == ["1", "3"]
    assert visible_to(spans, "org-c") == []
    assert visible_to([record("1", None, 1)], "org-a") == []


def test_otlp_exports_are_flattened_and_filtered_again() -> None:
    def kv(key: str, value: str) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(string_value=value))

    span = Span(
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
        name="POST /crisis/alerts",
        start_time_unix_nano=5,
        end_time_unix_nano=9,
        attributes=[kv("rn.org", "org-a"), kv("enduser.id", "jane@example.org")],
    )
    export = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={"attributes": [kv("service.name", "crisis")]},
                scope_spans=[ScopeSpans(spans=[span])],
            )
        ]
    )
    (rec,) = spans_from_otlp(export)
    assert rec.trace_id == bytes(range(16)).hex() and rec.parent_span_id is None
    assert (rec.service, rec.org, rec.attributes) == ("crisis", "org-a", {"rn.org": "org-a"})
