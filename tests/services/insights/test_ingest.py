"""The OTLP receiver as a Collector and the SDK use it, on the running network (real insights process,
real document store): gzip, JSON, a bad span refused alone, exports too big or unreadable refused whole,
and a retried export counted once."""

import gzip
import json
import os
import time
from datetime import UTC, datetime, timedelta

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from deploy.local.stack import Stack
from shared.auth.principal import Role
from shared.telemetry import FACT_MEETING_ATTENDED, MEETING_ID, ORG
from tests.conftest import Tokens
from tests.helpers import eventually


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def export_of(*spans: Span, service: str = "meetings") -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={"attributes": [kv("service.name", service)]}, scope_spans=[ScopeSpans(spans=spans)]
            )
        ]
    )


def a_span(trace_id: bytes, *, meeting: str, org: str = "org-b") -> Span:
    now = time.time_ns()
    return Span(
        trace_id=trace_id,
        span_id=os.urandom(8),
        name="POST /meetings/{meeting_id}/attendance",
        start_time_unix_nano=now,
        end_time_unix_nano=now + 3_000_000,
        attributes=[kv(ORG, org), kv("enduser.email", "jane@example.org")],
        events=[
            Span.Event(name=FACT_MEETING_ATTENDED, time_unix_nano=now, attributes=[kv(MEETING_ID, meeting)]),
            Span.Event(
                name="exception", time_unix_nano=now, attributes=[kv("exception.message", "Jane Doe")]
            ),
        ],
    )


def ingest_headers(network: Stack, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {network.otlp_token}", "content-type": "application/x-protobuf", **more}


async def test_a_gzip_export_is_kept_but_for_its_bad_span_and_a_retried_one_counts_once(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    url = network.url("insights")
    since = datetime.now(UTC) - timedelta(seconds=1)
    trace_id = os.urandom(16)
    meeting = f"meeting-{trace_id.hex()[:8]}"
    bad = Span(
        trace_id=b"short", span_id=os.urandom(8), name="x", start_time_unix_nano=1, end_time_unix_nano=2
    )
    body = gzip.compress(export_of(a_span(trace_id, meeting=meeting), bad).SerializeToString())
    for _ in range(2):  # an exporter that did not hear the answer sends the export again
        sent = await http.post(
            f"{url}/v1/traces", content=body, headers=ingest_headers(network, **{"content-encoding": "gzip"})
        )
        assert sent.status_code == 200, sent.text
        answer = ExportTraceServiceResponse.FromString(sent.content)
        assert answer.partial_success.rejected_spans == 1
        assert "trace id" in answer.partial_success.error_message

    admin = tokens("insights-admin-b", "org-b", Role.ORG_ADMIN)
    trace = await http.get(f"{url}/traces/{trace_id.hex()}", headers=admin)
    assert trace.status_code == 200
    (span,) = trace.json()["spans"]
    assert "enduser.email" not in span["attributes"]  # off the allow-list: dropped on the way in
    assert [f["name"] for f in span["facts"]] == [
        FACT_MEETING_ATTENDED
    ]  # the exception's message is not kept

    async def attendance() -> dict | None:
        board = await http.get(
            f"{url}/boards/people", params={"start": since.isoformat(), "step": "minute"}, headers=admin
        )
        assert board.status_code == 200, board.text
        (figure,) = [f for f in board.json()["figures"] if f["id"] == "attendance"]
        value = figure["values"]["org-b"]
        return value if value and meeting in value["by"] else None

    counted = await eventually(attendance)
    assert counted["by"][meeting] == 1

    other = tokens("insights-admin-a", "org-a", Role.ORG_ADMIN)
    assert (await http.get(f"{url}/traces/{trace_id.hex()}", headers=other)).status_code == 404


async def test_a_gzip_json_export_is_read_and_unreadable_or_oversized_ones_are_refused(
    network: Stack, tokens: Tokens, http: httpx.AsyncClient
) -> None:
    url = f"{network.url('insights')}/v1/traces"
    trace_id = os.urandom(16)
    now = time.time_ns()
    # As the OTLP/JSON spec writes it: ids in hex (protobuf's own JSON mapping would want base64).
    as_json = json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "meetings"}}]
                    },
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": trace_id.hex(),
                                    "spanId": os.urandom(8).hex(),
                                    "parentSpanId": "",
                                    "name": "GET /meetings",
                                    "kind": 2,
                                    "startTimeUnixNano": str(now),
                                    "endTimeUnixNano": str(now + 1_000_000),
                                    "attributes": [{"key": ORG, "value": {"stringValue": "org-b"}}],
                                }
                            ]
                        }
                    ],
                }
            ]
        }
    )
    sent = await http.post(
        url,
        content=gzip.compress(as_json.encode()),
        headers=ingest_headers(network, **{"content-type": "application/json", "content-encoding": "gzip"}),
    )
    assert sent.status_code == 200, sent.text
    admin = tokens("insights-admin-b", "org-b", Role.ORG_ADMIN)
    assert (
        await http.get(f"{network.url('insights')}/traces/{trace_id.hex()}", headers=admin)
    ).status_code == 200

    def refused(status: int, answer: httpx.Response) -> None:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"

    gzip_headers = ingest_headers(network, **{"content-encoding": "gzip"})
    refused(400, await http.post(url, content=b"not gzip at all", headers=gzip_headers))
    refused(400, await http.post(url, content=gzip.compress(b"\x00\x01junk"), headers=gzip_headers))
    refused(
        415, await http.post(url, content=b"x", headers=ingest_headers(network, **{"content-encoding": "br"}))
    )
    # 9 MB of zeros compress to a few kB: the limit holds for what the body becomes, not only what it is.
    bomb = gzip.compress(bytes(9 * 1024 * 1024))
    refused(413, await http.post(url, content=bomb, headers=gzip_headers))
    refused(413, await http.post(url, content=os.urandom(9 * 1024 * 1024), headers=ingest_headers(network)))
