"""Insights: OTLP ingest throughput, and dashboard query latency over 30 days of rollups.

    make bench-insights   (or: .venv/bin/python bench/insights_ingest.py --spans 1000000, or --quick)

Starts nats-server, the document store and insights (each its own process, as in `make run`) on free
ports, insights with RN_ROLLUP_FLUSH_SECONDS=1. Spans are made here as our services emit them: HTTP
server spans (http.* and rn.org), database spans (db.system.name, db.operation.name,
db.collection.name), NATS publish and process spans (messaging.*) whose parents are other services'
spans, facts as span events (shared.telemetry FACT_*, rn.duration_ms and the other dimensions), a few
organizations with skewed traffic, and work of no organization (the public meeting directory, the
outbox relay). Each service's spans go out as its SDK's batch processor sends them: one
ExportTraceServiceRequest per 512 spans, posted to /v1/traces with the ingest token by `--exporters`
exporters side by side. Every export is made before its phase starts, so the phase times insights.

  1. backfill: the spans of the last 30 days (all of `--spans` but the live phases'), in time order,
     as a network replaying its month would send them. This fills the store for 2 and 4.
  2. live ingest, on the store the backfill filled, once its rollups are written: spans of the last
     minutes, protobuf, then others gzip-compressed (what a Collector sends). Spans/s from the first
     post to the last answer, and the CPU of each process (/proc). Beside it, in the same run over
     the same bytes, on one core of this process: ExportTraceServiceRequest.ParseFromString alone
     (after gunzip, for the gzip exports); that plus service.ingest with a database that drops the
     span documents (what insights does before the store: flatten, span documents, rollups, the
     service map; not the rollups' flush); and the store alone: insert_many of the span documents
     service.ingest makes of the same exports, into an empty collection, with insights' indexes
     and with none but _id.
  3. the wait for the last rollup flush: until the day rollups count every span posted (checked per
     organization and for the network), and insights is idle.
  4. dashboard queries: GET /boards/{crisis,notifications,people,services} over 30 days by day,
     7 days by hour, 24 h by hour and 1 h by minute, for an organization's admin and for a network
     admin of two regions (each organization side by side, each region, and the network's own work),
     one at a time, p50/p95/max by the client. Baseline, same run, same documents: PyMongo's
     find_one by _id of the rollup documents the board reads, 8 at a time as insights reads them;
     and, in this process, insights' own read of them (store.read_rollups: the same reads, decoded)
     and its figures (boards.dashboard), to say where a request's time goes.
     The figures of the 30-day boards are checked against what was sent (cases opened and
     acknowledged, spans counted).
RN_BENCH_PROFILE=<dir> records insights with py-spy in the live phase and the first minute of the
queries (collapsed stacks in <dir>/insights-{live,queries}.txt).
Figures are written to bench/results/insights_ingest.json.
"""

import argparse
import asyncio
import gzip
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.crisis_latency import cpu_seconds
from bench.notifications_fanout import PROFILE_DIR, machine_busy_seconds, py_spy
from deploy.local.stack import Stack, free_port
from deploy.local.topology import SERVICES
from services.insights import boards, rollups, service, store
from shared.auth.devkeys import mint_token
from shared.auth.principal import Principal, Role
from shared.network import Network
from shared.telemetry import (
    CASE_ID,
    CATCH_ALL,
    CATEGORY,
    CHANNEL,
    CRISIS_LEVEL,
    DURATION_MS,
    EVENT_ID,
    EVENT_TYPE,
    FACT_CRISIS_ACKNOWLEDGED,
    FACT_CRISIS_ESCALATED,
    FACT_CRISIS_FIRST_DELIVERY,
    FACT_CRISIS_FOLLOW_UP_DONE,
    FACT_CRISIS_OPENED,
    FACT_MEETING_ATTENDED,
    FACT_MENTORING_CHECK_IN_OVERDUE,
    FACT_MENTORING_MATCHED,
    FACT_MENTORING_REQUESTED,
    FACT_MESSAGE_DEAD_LETTERED,
    FACT_MESSAGE_REDELIVERED,
    FACT_NOTIFICATION_DELIVERED,
    FACT_NOTIFICATION_FAILED,
    FACT_NOTIFICATION_FALLBACK,
    MEETING_ID,
    ON_TIME,
    ORG,
    STREAM,
    USER_ID,
)

INGEST_TARGET_PER_S = 5000.0  # issue 14, on 2 cores
QUERY_TARGET_P95_MS = 200.0
SPANS_PER_EXPORT = 512  # the SDK's BatchSpanProcessor: OTEL_BSP_MAX_EXPORT_BATCH_SIZE
DAYS = 30
LIVE_MINUTES = 10  # the live phases' spans start in the minutes before the run
FLUSH_SECONDS = 1.0
STALL_SECONDS = 60.0  # the rollups have not grown for this long: what is missing is reported missing
# Insights is done writing rollups once it used less CPU than this in longer than a flush interval.
IDLE_SECONDS, IDLE_CPU_SECONDS = 1.5 * FLUSH_SECONDS, 0.05
READ_CONCURRENCY = store.READ_CONCURRENCY
# Timed requests per board, window and admin: `--reps`, or fewer (not under MIN_REPS) once a case has
# taken CASE_SECONDS, so that a slow board does not make the run long.
MIN_REPS, CASE_SECONDS = 3, 2.0
HERE_REPS = 1  # of which the work is also done in this process (read and decode, figures)
MS = 1_000_000  # nanoseconds

SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL = (
    Span.SPAN_KIND_SERVER,
    Span.SPAN_KIND_CLIENT,
    Span.SPAN_KIND_PRODUCER,
    Span.SPAN_KIND_CONSUMER,
    Span.SPAN_KIND_INTERNAL,
)
HTTP_SCOPE = "opentelemetry.instrumentation.fastapi"
DB_SCOPE = "rn.mongodb"
NATS_SCOPE = "faststream"
SERVICE_PORTS = {s.name: s.port for s in SERVICES}
WINDOWS: list[tuple[str, timedelta, boards.Step]] = [
    ("30 d by day", timedelta(days=30), "day"),
    ("7 d by hour", timedelta(days=7), "hour"),
    ("24 h by hour", timedelta(hours=24), "hour"),
    ("1 h by minute", timedelta(hours=1), "minute"),
]
BOARD_IDS = ["crisis", "notifications", "people", "services"]


# --- the network ---------------------------------------------------------------------------------


def network(orgs: int) -> dict[str, Any]:
    """Two regions sharing `orgs` organizations; traffic is skewed towards the first ones."""
    regions = [{"id": "lakeshore", "name": "Lakeshore"}, {"id": "prairie", "name": "Prairie"}]
    return {
        "regions": regions,
        "organizations": [
            {"id": f"bench-org-{n}", "name": f"Bench Org {n}", "region": regions[n % 2]["id"]}
            for n in range(orgs)
        ],
    }


# --- spans as our services emit them -------------------------------------------------------------


# Attribute values that repeat (routes, collections, organizations) are made once: making a KeyValue
# is most of the cost of making a span here.
KV_CACHE: dict[tuple[str, type, str | int | float | bool], KeyValue] = {}
UNIQUE = frozenset(
    {USER_ID, EVENT_ID, CASE_ID, DURATION_MS, "messaging.message.id", "messaging.message.body.size"}
)


def kv(key: str, value: str | int | float | bool) -> KeyValue:
    if key in UNIQUE:
        return make_kv(key, value)
    found = KV_CACHE.get((key, type(value), value))
    if found is None:
        found = KV_CACHE[(key, type(value), value)] = make_kv(key, value)
    return found


def make_kv(key: str, value: str | int | float | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


Attrs = dict[str, str | int | float | bool]
FactAt = tuple[str, int, Attrs]  # name, offset from the span's start in ms, attributes


@dataclass
class Truth:
    """What was sent, to check the dashboards' figures against: facts by scope and name (their
    times, unix seconds), and spans by scope (their start times)."""

    facts: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    spans: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def merge(self, other: "Truth") -> None:
        for fact, times in other.facts.items():
            self.facts[fact] += times
        for scope, times in other.spans.items():
            self.spans[scope] += times

    def count_spans(self, scopes: tuple[str, ...], start: int, end: int) -> int:
        return sum(start <= t < end for s in scopes for t in self.spans.get(s, []))

    def count_facts(self, scopes: tuple[str, ...], name: str, start: int, end: int) -> int:
        return sum(start <= t < end for s in scopes for t in self.facts.get((s, name), []))


class Traffic:
    """Traces of the network's flows: `trace` makes one, as (service, instrumentation scope, span)."""

    def __init__(self, orgs: list[str], seed: int, truth: Truth) -> None:
        self.rng = random.Random(seed)
        self.orgs = orgs
        self.org_weights = [1 / (n + 1) for n in range(len(orgs))]  # Zipf: a few organizations are busy
        self.truth = truth
        self.out: list[tuple[str, str, Span]] = []
        self.flows = [
            (self.inbox_read, 30),
            (self.directory_search, 12),
            (self.outbox_relay, 6),
            (self.crisis_alert, 5),
            (self.acknowledge, 4),
            (self.escalation_deadline, 3),
            (self.follow_up, 2),
            (self.mentoring_request, 4),
            (self.mentoring_matched, 3),
            (self.check_in_overdue, 2),
            (self.meeting_attended, 8),
            (self.redelivery, 1),
        ]
        self.flow_weights = [w for _, w in self.flows]

    def trace(self, t_ns: int) -> list[tuple[str, str, Span]]:
        self.out = []
        flow = self.rng.choices(self.flows, self.flow_weights)[0][0]
        flow(self.rng.randbytes(16), t_ns)
        return self.out

    # -- building blocks --

    def span(
        self,
        service: str,
        scope: str,
        trace_id: bytes,
        parent: bytes | None,
        name: str,
        kind: "Span.SpanKind.ValueType",
        start_ns: int,
        ms: float,
        attrs: Attrs,
        facts: list[FactAt] | None = None,
        error: bool = False,
    ) -> bytes:
        span_id = self.rng.randbytes(8)
        org = attrs.get(ORG)
        scope_id = org if isinstance(org, str) else rollups.NETWORK
        events = []
        for fact, offset_ms, fact_attrs in facts or []:
            at = start_ns + int(offset_ms * MS)
            events.append(
                Span.Event(time_unix_nano=at, name=fact, attributes=[kv(k, v) for k, v in fact_attrs.items()])
            )
            self.truth.facts[(scope_id, fact)].append(at // 1_000_000_000)
        self.truth.spans[scope_id].append(start_ns // 1_000_000_000)
        self.out.append(
            (
                service,
                scope,
                Span(
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_span_id=parent or b"",
                    name=name,
                    kind=kind,
                    start_time_unix_nano=start_ns,
                    end_time_unix_nano=start_ns + int(ms * MS),
                    attributes=[kv(k, v) for k, v in attrs.items()],
                    events=events,
                    status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_UNSET),
                ),
            )
        )
        return span_id

    def org(self) -> str:
        return self.rng.choices(self.orgs, self.org_weights)[0]

    def ms(self, median: float) -> float:
        return median * self.rng.lognormvariate(0, 0.6)

    def http(
        self,
        service: str,
        trace_id: bytes,
        t: int,
        method: str,
        route: str,
        status: int,
        org: str | None,
        ms: float,
        facts: list[FactAt] | None = None,
        extra: Mapping[str, str | int | float | bool] | None = None,
    ) -> bytes:
        attrs: Attrs = {
            "http.request.method": method,
            "http.route": route,
            "http.response.status_code": status,
            "url.scheme": "http",
            "network.protocol.version": "1.1",
            "server.port": SERVICE_PORTS[service],
        }
        if org is not None:
            attrs |= {ORG: org, USER_ID: str(uuid.UUID(bytes=self.rng.randbytes(16)))}
        if status >= 500:
            attrs["error.type"] = str(status)
        attrs.update(extra or {})
        name, error = f"{method} {route}", status >= 500
        return self.span(service, HTTP_SCOPE, trace_id, None, name, SERVER, t, ms, attrs, facts, error)

    def db(
        self, service: str, trace_id: bytes, parent: bytes, t: int, op: str, coll: str, org: str | None
    ) -> int:
        """A database command under `parent`; returns when it ended."""
        attrs: Attrs = {"db.system.name": "mongodb", "db.operation.name": op, "db.collection.name": coll}
        if org is not None:
            attrs[ORG] = org
        ms = self.ms(1.5)
        self.span(service, DB_SCOPE, trace_id, parent, f"{op} {coll}", CLIENT, t, ms, attrs)
        return t + int(ms * MS)

    def messaging(
        self,
        service: str,
        trace_id: bytes,
        parent: bytes,
        t: int,
        org: str,
        subject: str,
        operation: str,
        facts: list[FactAt] | None = None,
    ) -> bytes:
        event_type = subject.split(".", 2)[2]
        attrs: Attrs = {
            "messaging.system": "nats",
            "messaging.destination.name": subject,
            "messaging.operation.name": operation,
            "messaging.operation.type": operation,
            "messaging.message.id": str(uuid.UUID(bytes=self.rng.randbytes(16))),
            "messaging.message.body.size": self.rng.randint(300, 1400),
            ORG: org,
            EVENT_TYPE: event_type,
            EVENT_ID: str(uuid.UUID(bytes=self.rng.randbytes(16))),
        }
        if operation == "process":
            attrs["messaging.consumer.group.name"] = service
        kind = PRODUCER if operation == "publish" else CONSUMER
        ms = self.ms(0.8 if operation == "publish" else 12)
        return self.span(
            service, NATS_SCOPE, trace_id, parent, f"{subject} {operation}", kind, t, ms, attrs, facts
        )

    def deliveries(
        self, trace_id: bytes, parent: bytes, t: int, org: str, category: str, first: bool
    ) -> None:
        """notifications takes the event, delivers it (and says so), and announces the delivery."""
        channel = self.rng.choices(["in_app", "email", "sms"], [6, 3, 1])[0]
        took = self.ms(900 if channel != "in_app" else 40)
        facts: list[FactAt] = [
            (FACT_NOTIFICATION_DELIVERED, 5, {CHANNEL: channel, CATEGORY: category, DURATION_MS: took})
        ]
        if first:
            facts.append((FACT_CRISIS_FIRST_DELIVERY, 6, {DURATION_MS: took + self.ms(30)}))
        if channel == "sms" and self.rng.random() < 0.1:
            facts += [(FACT_NOTIFICATION_FAILED, 4, {CHANNEL: "sms", CATEGORY: category})]
            if category == "crisis":
                facts.append((FACT_NOTIFICATION_FALLBACK, 4, {CHANNEL: "sms"}))
        subject = f"rn.{org}.{'crisis.escalated' if category == 'crisis' else category + '.changed'}.v1"
        process = self.messaging("notifications", trace_id, parent, t, org, subject, "process", facts)
        at = self.db("notifications", trace_id, process, t + MS, "find", "people", org)
        at = self.db("notifications", trace_id, process, at, "insert", "notifications", org)
        at = self.db("notifications", trace_id, process, at, "update", "deliveries", org)
        delivered = f"rn.{org}.notifications.delivered.v1"
        self.messaging("notifications", trace_id, process, at, org, delivered, "publish")

    # -- the flows --

    def inbox_read(self, trace_id: bytes, t: int) -> None:
        org = self.org()
        route = self.rng.choice(["/me/notifications", "/me/notifications/unread-count"])
        root = self.http("notifications", trace_id, t, "GET", route, 200, org, self.ms(6))
        self.db("notifications", trace_id, root, t + MS, "find", "notifications", org)

    def directory_search(self, trace_id: bytes, t: int) -> None:
        # The public directory: nobody signed in, so the work is the network's, not an organization's.
        status = 500 if self.rng.random() < 0.01 else 200
        self.http("meetings", trace_id, t, "GET", "/directory/meetings", status, None, self.ms(9))

    def outbox_relay(self, trace_id: bytes, t: int) -> None:
        service = self.rng.choice(["crisis", "mentoring", "meetings", "notifications"])
        root = self.span(
            service, f"services.{service}", trace_id, None, "outbox relay", INTERNAL, t, self.ms(4), {}
        )
        self.db(service, trace_id, root, t + MS, "find", "outbox_intents", None)

    def crisis_alert(self, trace_id: bytes, t: int) -> None:
        org, level = self.org(), self.rng.choices([1, 2, 3], [6, 3, 1])[0]
        facts: list[FactAt] = [
            (FACT_CRISIS_OPENED, 20, {CRISIS_LEVEL: level}),
            (FACT_CRISIS_ESCALATED, 21, {CRISIS_LEVEL: 1, CATCH_ALL: False}),
        ]
        status = 500 if self.rng.random() < 0.005 else 201
        root = self.http("crisis", trace_id, t, "POST", "/crisis/alerts", status, org, self.ms(35), facts)
        at = self.db("crisis", trace_id, root, t + 2 * MS, "find", "cases", org)
        at = self.db("crisis", trace_id, root, at, "insert", "cases", org)
        at = self.db("crisis", trace_id, root, at, "update", "cases", org)
        self.messaging("crisis", trace_id, root, at, org, f"rn.{org}.crisis.raised.v1", "publish")
        publish = self.messaging(
            "crisis", trace_id, root, at + MS, org, f"rn.{org}.crisis.escalated.v1", "publish"
        )
        self.deliveries(trace_id, publish, at + 3 * MS, org, "crisis", first=True)

    def acknowledge(self, trace_id: bytes, t: int) -> None:
        org = self.org()
        waited = self.ms(90_000)
        route = "/crisis/cases/{case_id}/acknowledge"
        facts: list[FactAt] = [(FACT_CRISIS_ACKNOWLEDGED, 10, {DURATION_MS: waited})]
        case = {CASE_ID: str(uuid.UUID(bytes=self.rng.randbytes(16)))}
        root = self.http("crisis", trace_id, t, "POST", route, 200, org, self.ms(25), facts, case)
        at = self.db("crisis", trace_id, root, t + MS, "find", "cases", org)
        at = self.db("crisis", trace_id, root, at, "update", "cases", org)
        publish = self.messaging(
            "crisis", trace_id, root, at, org, f"rn.{org}.crisis.acknowledged.v1", "publish"
        )
        process = self.messaging(
            "notifications",
            trace_id,
            publish,
            at + 2 * MS,
            org,
            f"rn.{org}.crisis.acknowledged.v1",
            "process",
        )
        self.db("notifications", trace_id, process, at + 3 * MS, "update", "notifications", org)

    def escalation_deadline(self, trace_id: bytes, t: int) -> None:
        org = self.org()
        level = self.rng.choice([2, 3])
        catch_all = level == 3 and self.rng.random() < 0.3
        attrs: Attrs = {ORG: org, CASE_ID: str(uuid.UUID(bytes=self.rng.randbytes(16)))}
        facts: list[FactAt] = [(FACT_CRISIS_ESCALATED, 3, {CRISIS_LEVEL: level, CATCH_ALL: catch_all})]
        name, ms = "escalation deadline", self.ms(15)
        root = self.span("crisis", "services.crisis", trace_id, None, name, INTERNAL, t, ms, attrs, facts)
        at = self.db("crisis", trace_id, root, t + MS, "find", "cases", org)
        at = self.db("crisis", trace_id, root, at, "update", "cases", org)
        publish = self.messaging(
            "crisis", trace_id, root, at, org, f"rn.{org}.crisis.escalated.v1", "publish"
        )
        self.deliveries(trace_id, publish, at + 2 * MS, org, "crisis", first=False)

    def follow_up(self, trace_id: bytes, t: int) -> None:
        org = self.org()
        facts: list[FactAt] = [(FACT_CRISIS_FOLLOW_UP_DONE, 8, {ON_TIME: self.rng.random() < 0.85})]
        route = "/crisis/cases/{case_id}/follow-up"
        root = self.http("crisis", trace_id, t, "POST", route, 200, org, self.ms(20), facts)
        at = self.db("crisis", trace_id, root, t + MS, "update", "cases", org)
        self.messaging(
            "crisis", trace_id, root, at, org, f"rn.{org}.crisis.follow_up_completed.v1", "publish"
        )

    def mentoring_request(self, trace_id: bytes, t: int) -> None:
        org = self.org()
        facts: list[FactAt] = [(FACT_MENTORING_REQUESTED, 15, {})]
        root = self.http(
            "mentoring", trace_id, t, "POST", "/mentoring/requests", 201, org, self.ms(45), facts
        )
        at = self.db("mentoring", trace_id, root, t + MS, "find", "mentors", org)
        at = self.db("mentoring", trace_id, root, at, "insert", "requests", org)
        at = self.db("mentoring", trace_id, root, at, "update", "requests", org)
        publish = self.messaging(
            "mentoring", trace_id, root, at, org, f"rn.{org}.mentoring.proposed.v1", "publish"
        )
        self.deliveries(trace_id, publish, at + 2 * MS, org, "mentoring", first=False)

    def mentoring_matched(self, trace_id: bytes, t: int) -> None:
        org = self.org()
        facts: list[FactAt] = [(FACT_MENTORING_MATCHED, 10, {DURATION_MS: self.ms(6 * 3600_000)})]
        route = "/mentoring/matches/{match_id}/accept"
        root = self.http("mentoring", trace_id, t, "POST", route, 200, org, self.ms(30), facts)
        at = self.db("mentoring", trace_id, root, t + MS, "update", "matches", org)
        self.messaging("mentoring", trace_id, root, at, org, f"rn.{org}.mentoring.matched.v1", "publish")

    def check_in_overdue(self, trace_id: bytes, t: int) -> None:
        org = self.org()
        facts: list[FactAt] = [(FACT_MENTORING_CHECK_IN_OVERDUE, 2, {})]
        name, ms = "check-in reminder", self.ms(8)
        root = self.span(
            "mentoring", "services.mentoring", trace_id, None, name, INTERNAL, t, ms, {ORG: org}, facts
        )
        self.db("mentoring", trace_id, root, t + MS, "update", "matches", org)

    def meeting_attended(self, trace_id: bytes, t: int) -> None:
        org = self.org()
        meeting = f"m-{self.rng.randrange(40):02d}"
        facts: list[FactAt] = [(FACT_MEETING_ATTENDED, 5, {MEETING_ID: meeting})]
        route = "/meetings/{meeting_id}/attendance"
        root = self.http("meetings", trace_id, t, "POST", route, 204, org, self.ms(12), facts)
        self.db("meetings", trace_id, root, t + MS, "update", "attendance", org)

    def redelivery(self, trace_id: bytes, t: int) -> None:
        org = self.org()
        stream = self.rng.choice(["CRISIS", "NOTIFICATIONS", "MENTORING"])
        facts: list[FactAt] = [(FACT_MESSAGE_REDELIVERED, 1, {STREAM: stream})]
        if self.rng.random() < 0.1:
            facts.append((FACT_MESSAGE_DEAD_LETTERED, 2, {STREAM: stream}))
        service = self.rng.choice(["notifications", "mentoring", "crisis"])
        subject = f"rn.{org}.{stream.lower()}.changed.v1"
        # Its parent published long ago, in a batch insights has forgotten: an arrow never completed.
        publisher = self.rng.randbytes(8)
        process = self.messaging(service, trace_id, publisher, t, org, subject, "process", facts)
        self.db(service, trace_id, process, t + MS, "update", "applied", org)


def resource(service: str) -> Resource:
    return Resource(
        attributes=[
            kv("service.name", service),
            kv("service.version", "0.1.0"),
            kv("deployment.environment", "development"),
            kv("telemetry.sdk.language", "python"),
            kv("telemetry.sdk.name", "opentelemetry"),
        ]
    )


def export(service: str, spans: list[tuple[str, Span]]) -> bytes:
    """One batch of a service's spans, grouped by instrumentation scope as the SDK's exporter does."""
    by_scope: dict[str, list[Span]] = defaultdict(list)
    for scope, span in spans:
        by_scope[scope].append(span)
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=resource(service),
                scope_spans=[
                    ScopeSpans(scope=InstrumentationScope(name=scope, version="0.1.0"), spans=group)
                    for scope, group in by_scope.items()
                ],
            )
        ]
    )
    return request.SerializeToString()


Export = tuple[bytes, int]  # the serialized request, and how many spans it holds


def make_exports(traffic: Traffic, spans: int, start_ns: int, end_ns: int) -> list[Export]:
    """About `spans` spans (whole traces) starting between `start_ns` and `end_ns`, in time order, in
    exports of SPANS_PER_EXPORT spans of one service each, as each service's batch processor sends them."""
    exports: list[Export] = []
    buffers: dict[str, list[tuple[str, Span]]] = defaultdict(list)
    made, traces, t = 0, 0, start_ns
    per_trace = 6.0  # about, over the mix of flows: refined as it goes
    while made < spans:
        # Poisson arrivals, at the rate that ends the traces still needed at `end_ns`.
        traces_left = max(1.0, (spans - made) / per_trace)
        t = min(end_ns, t + int(traffic.rng.expovariate(1.0) * (end_ns - t) / traces_left))
        for sender, scope, span in traffic.trace(t):
            buffer = buffers[sender]
            buffer.append((scope, span))
            made += 1
            if len(buffer) == SPANS_PER_EXPORT:
                exports.append((export(sender, buffer), len(buffer)))
                buffer.clear()
        traces += 1
        per_trace = made / traces
    exports += [(export(sender, buffer), len(buffer)) for sender, buffer in buffers.items() if buffer]
    return exports


Chunk = tuple[list[str], int, int, int, int]  # organizations, seed, spans, start and end (ns)


def make_chunk(chunk: Chunk) -> tuple[list[Export], Truth]:
    orgs, seed, spans, start_ns, end_ns = chunk
    truth = Truth()
    return make_exports(Traffic(orgs, seed, truth), spans, start_ns, end_ns), truth


CHUNK_SPANS = 20_000


def make_traffic(
    orgs: list[str], seed: int, spans: int, start: datetime, end: datetime, pool: Any, bar: Progress
) -> tuple[list[Export], Truth]:
    """Made on every core, in slices of time put back in order."""
    pieces = max(1, round(spans / CHUNK_SPANS))
    t0, t1 = int(start.timestamp() * 1e9), int(end.timestamp() * 1e9)
    chunks: list[Chunk] = []
    for i in range(pieces):
        share = spans // pieces + (i < spans % pieces)
        chunks.append(
            (orgs, seed * 1000 + i, share, t0 + (t1 - t0) * i // pieces, t0 + (t1 - t0) * (i + 1) // pieces)
        )
    task = bar.add_task(f"making spans from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}", total=spans)
    exports: list[Export] = []
    truth = Truth()
    for made, part in pool.imap(make_chunk, chunks):
        exports += made
        truth.merge(part)
        bar.advance(task, sum(n for _, n in made))
    bar.remove_task(task)
    return exports, truth


# --- ingest ----------------------------------------------------------------------------------------


@dataclass
class Posted:
    spans: int
    exports: int
    bytes: int
    seconds: float
    rejected: int  # spans refused by insights (OTLP partial success)
    failed_exports: int  # answered other than 200: their spans are lost to this run
    failed_spans: int
    statuses: dict[str, int]
    cpu_s: dict[str, float]

    def summary(self) -> dict[str, Any]:
        return {
            "spans": self.spans,
            "exports": self.exports,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "spans_per_s": self.spans / self.seconds,
            "rejected_spans": self.rejected,
            "failed_exports": self.failed_exports,
            "failed_spans": self.failed_spans,
            "statuses": self.statuses,
            "cpu_s_by_process": self.cpu_s,
            "cores_used_by_process": {n: s / self.seconds for n, s in self.cpu_s.items()},
            "cpu_us_per_span_by_process": {n: s * 1e6 / self.spans for n, s in self.cpu_s.items()},
        }


def processes_seconds(stack: Stack) -> dict[str, float]:
    return {**cpu_seconds(stack), "bench": time.process_time(), "machine": machine_busy_seconds()}


async def post_exports(
    stack: Stack, exports: list[Export], exporters: int, gzipped: bool, bar: Progress, what: str
) -> Posted:
    """`exporters` exporters side by side, each one connection, taking the next export when done."""
    url = f"{stack.url('insights')}/v1/traces"
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {stack.otlp_token}"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    spans = sum(n for _, n in exports)
    task = bar.add_task(what, total=spans)
    statuses: Counter[str] = Counter()
    rejected = failed_exports = failed_spans = 0
    todo = iter(exports)

    async def exporter() -> None:
        nonlocal rejected, failed_exports, failed_spans
        async with httpx.AsyncClient(timeout=120, headers=headers) as http:
            for body, n in todo:
                r = await http.post(url, content=body)
                statuses[str(r.status_code)] += 1
                if r.status_code == 200:
                    rejected += ExportTraceServiceResponse.FromString(
                        r.content
                    ).partial_success.rejected_spans
                else:
                    failed_exports, failed_spans = failed_exports + 1, failed_spans + n
                bar.advance(task, n)

    before, t0 = processes_seconds(stack), time.perf_counter()
    await asyncio.gather(*(exporter() for _ in range(exporters)))
    seconds = time.perf_counter() - t0
    after = processes_seconds(stack)
    bar.remove_task(task)
    return Posted(
        spans=spans,
        exports=len(exports),
        bytes=sum(len(b) for b, _ in exports),
        seconds=seconds,
        rejected=rejected,
        failed_exports=failed_exports,
        failed_spans=failed_spans,
        statuses=dict(statuses),
        cpu_s={n: after[n] - before[n] for n in after},
    )


def parse_only(exports: list[Export], gzipped: bool) -> float:
    """Spans/s of ExportTraceServiceRequest.ParseFromString alone (after gunzip), on one core here."""
    t0 = time.process_time()
    for body, _ in exports:
        ExportTraceServiceRequest().ParseFromString(gzip.decompress(body) if gzipped else body)
    return sum(n for _, n in exports) / (time.process_time() - t0)


class SpanDocuments:
    """Stands in for insights' database where service.ingest writes: the span documents it would
    insert are kept (one list per insert_many), or dropped."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.batches: list[list[dict[str, Any]]] = []
        self.spans = self  # db.spans.insert_many

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool = True) -> None:
        if self.keep:
            self.batches.append(docs)


async def ingest_without_store(exports: list[Export], keep: bool) -> tuple[float, SpanDocuments]:
    """ParseFromString, then service.ingest itself (flatten, span documents, rollups, the service
    map) with SpanDocuments for a database; the rollups' flush is not in it. Returns spans/s on one
    core here (what insights does to an export besides HTTP and the store), and the documents."""
    pending, documents = service.Pending(), SpanDocuments(keep)
    db = cast(AsyncDatabase[dict[str, Any]], documents)
    t0 = time.process_time()
    for body, _ in exports:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        await service.ingest(db, pending, request)
    return sum(n for _, n in exports) / (time.process_time() - t0), documents


async def store_alone(
    mongo: AsyncMongoClient[dict[str, Any]], exports: list[Export], writers: int, indexes: bool
) -> float:
    """Spans/s of the store alone: insert_many of the span documents insights makes of these exports
    (made by service.ingest before the clock starts), `writers` side by side, into an empty
    collection of a scratch database, with insights' indexes or with none but _id."""
    scratch = mongo[f"bench_store_alone_{'indexed' if indexes else 'bare'}"]
    if indexes:
        await store.ensure_indexes(scratch)
    _, documents = await ingest_without_store(exports, keep=True)
    todo = iter(documents.batches)

    async def writer() -> None:
        for batch in todo:
            await scratch.spans.insert_many(batch, ordered=False)

    t0 = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    rate = sum(n for _, n in exports) / (time.perf_counter() - t0)
    await mongo.drop_database(scratch.name)
    return rate


def heard(series: rollups.Series) -> int:
    return sum(
        cell.count
        for cells in series.values()
        for cell_key, cell in cells.items()
        if rollups.parse_key(cell_key)[0] == rollups.HEARD
    )


async def rolled_up(
    db: AsyncDatabase[dict[str, Any]], scopes: list[str], months: list[int]
) -> dict[str, int]:
    """Spans counted by the day rollups, by scope: each span counts once as `heard` from its service."""
    counts = {}
    for scope in scopes:
        counts[scope] = 0
        for month in months:
            doc = await db.rollups.find_one(
                {"_id": rollups.doc_id("d", month, scope, rollups.HEARD_KIND)}, {"c": 1}
            )
            if doc is not None:
                counts[scope] += heard(rollups.loads(doc["c"]))
    return counts


async def until_rolled_up(
    stack: Stack, db: AsyncDatabase[dict[str, Any]], expected: dict[str, int], months: list[int]
) -> tuple[dict[str, int], float]:
    """Poll until the day rollups count every span sent and insights has then been idle for a second
    (a flush writes the day documents among others, in no set order); gives up once nothing moved for
    STALL_SECONDS. Returns the counts and how long after the call the flushes were done."""
    t0 = moved = time.perf_counter()
    last: dict[str, int] = {}
    while True:
        seen = await rolled_up(db, sorted(expected), months)
        now = time.perf_counter()
        if all(seen[s] >= n for s, n in expected.items()):
            break
        if seen != last:
            last, moved = seen, now
        elif now - moved > STALL_SECONDS:
            return seen, moved - t0
        await asyncio.sleep(0.25)
    while True:
        before = cpu_seconds(stack)["insights"]
        await asyncio.sleep(IDLE_SECONDS)
        if cpu_seconds(stack)["insights"] - before < IDLE_CPU_SECONDS:
            return seen, time.perf_counter() - IDLE_SECONDS - t0


# --- dashboard queries -------------------------------------------------------------------------------


def percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {
        "count": len(ms),
        "p50": at(0.5),
        "p95": at(0.95),
        "max": ordered[-1],
        "mean": statistics.fmean(ms),
    }


@dataclass(frozen=True)
class Admin:
    label: str
    principal: Principal
    token: str


async def raw_reads(db: AsyncDatabase[dict[str, Any]], doc_ids: list[str]) -> dict[str, str]:
    """As store.read_rollups reads them: by _id, READ_CONCURRENCY at a time; the encoded series by id."""
    gate = asyncio.Semaphore(READ_CONCURRENCY)

    async def one(doc_id: str) -> dict[str, Any] | None:
        async with gate:
            return await db.rollups.find_one({"_id": doc_id}, {"c": 1})

    found = await asyncio.gather(*(one(i) for i in set(doc_ids)))
    return {d["_id"]: d["c"] for d in found if d is not None}


def check_figures(
    answer: dict[str, Any], admin: Admin, net: Network, truth: Truth, win: boards.Window
) -> list[str]:
    """The figures of a 30-day board against what was sent; returns the mismatches."""
    board = boards.BOARDS[answer["board"]]
    scopes = {
        c.id: c.scopes for c in boards.columns_for(admin.principal, net, with_network=board.with_network)
    }
    figures = {f["id"]: f["values"] for f in answer["figures"]}
    wrong = []
    for column, col_scopes in scopes.items():
        checks: list[tuple[str, Any, int]] = []
        if board.id == "crisis":
            opened, acked = figures["cases_opened"][column], figures["time_to_acknowledge"][column]
            sent_opened = truth.count_facts(col_scopes, FACT_CRISIS_OPENED, win.start, win.end)
            sent_acked = truth.count_facts(col_scopes, FACT_CRISIS_ACKNOWLEDGED, win.start, win.end)
            checks += [
                ("cases opened", opened and opened["total"], sent_opened),
                ("acknowledged", acked and acked["count"], sent_acked),
            ]
        if board.id == "services":
            ops = figures["operations"][column]
            counted = sum(r["count"] for r in ops["rows"]) if ops else 0
            checks.append(("spans", counted, truth.count_spans(col_scopes, win.start, win.end)))
        wrong += [
            f"{admin.label} {board.id} {column} {what}: {got} shown, {sent} sent"
            for what, got, sent in checks
            if got != sent
        ]
    return wrong


async def one_board(
    http: httpx.AsyncClient,
    url: str,
    admin: Admin,
    db: AsyncDatabase[dict[str, Any]],
    board: boards.Board,
    columns: list[boards.Column],
    win: boards.Window,
    params: dict[str, str],
    reps: int,
) -> dict[str, Any]:
    """`reps` requests one at a time (fewer once a case has taken CASE_SECONDS, but MIN_REPS), each
    followed by the raw reads of the same documents; the first also by the same work on them in this
    process (store.read_rollups, boards.dashboard), to say where a request's time goes: the store,
    decoding the documents, or making the board's figures."""
    headers = {"Authorization": f"Bearer {admin.token}"}
    doc_ids = boards.documents_to_read(board, boards.scopes_of(columns), win)
    ours: list[float] = []
    raw: list[float] = []
    read: list[float] = []
    figures: list[float] = []
    found: dict[str, str] = {}
    answer_bytes, started = 0, time.perf_counter()
    while len(ours) < reps and (len(ours) < MIN_REPS or time.perf_counter() - started < CASE_SECONDS):
        t0 = time.perf_counter()
        r = await http.get(url, params=params, headers=headers)
        ours.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        answer_bytes = len(r.content)
        t0 = time.perf_counter()
        found = await raw_reads(db, doc_ids)
        raw.append((time.perf_counter() - t0) * 1000)
        if len(read) < HERE_REPS:
            t0 = time.perf_counter()
            docs = await store.read_rollups(db, doc_ids)
            t1 = time.perf_counter()
            boards.dashboard(board, columns, docs, win)
            read.append((t1 - t0) * 1000)
            figures.append((time.perf_counter() - t1) * 1000)
    return {
        "columns": len(columns),
        "documents_read": len(set(doc_ids)),
        "documents_found": len(found),
        "rollup_bytes": sum(len(text) for text in found.values()),
        "answer_bytes": answer_bytes,
        "ours_ms": percentiles(ours),
        "raw_find_one_ms": percentiles(raw),
        "here_read_rollups_ms": percentiles(read),
        "here_figures_ms": percentiles(figures),
    }


async def queries(
    stack: Stack,
    db: AsyncDatabase[dict[str, Any]],
    admins: list[Admin],
    net: Network,
    truth: Truth,
    reps: int,
    bar: Progress,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every board over every window for each admin, after one request not timed (whose figures
    over 30 days are checked against what was sent)."""
    end = datetime.now(UTC)
    rows, wrong = [], []
    task = bar.add_task("dashboard queries", total=len(admins) * len(BOARD_IDS) * len(WINDOWS))
    async with httpx.AsyncClient(timeout=60) as http:
        for admin in admins:
            for board_id in BOARD_IDS:
                board = boards.BOARDS[board_id]
                columns = boards.columns_for(admin.principal, net, with_network=board.with_network)
                url = f"{stack.url('insights')}/boards/{board_id}"
                for label, length, step in WINDOWS:
                    win = boards.window(end - length, end, step)
                    params = {"start": (end - length).isoformat(), "end": end.isoformat(), "step": step}
                    first = await http.get(
                        url, params=params, headers={"Authorization": f"Bearer {admin.token}"}
                    )
                    first.raise_for_status()
                    if step == "day":
                        wrong += check_figures(first.json(), admin, net, truth, win)
                    timed = await one_board(http, url, admin, db, board, columns, win, params, reps)
                    rows.append({"admin": admin.label, "board": board_id, "window": label, **timed})
                    bar.advance(task)
    bar.remove_task(task)
    return rows, wrong


# --- the run -----------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="rn-bench-insights-"))
    net_file = data / "network.json"
    net_file.write_text(json.dumps(network(args.orgs), indent=1))
    net = Network.model_validate_json(net_file.read_text())
    orgs = [o.id for o in net.organizations]
    now = datetime.now(UTC)
    live_from = now - timedelta(minutes=LIVE_MINUTES)
    results: dict[str, Any] = {
        "cores": os.cpu_count(),
        "spans": args.spans,
        "organizations": len(orgs),
        "exporters": args.exporters,
        "spans_per_export": SPANS_PER_EXPORT,
        "rollup_flush_seconds": FLUSH_SECONDS,
        "ingest_target_spans_per_s": INGEST_TARGET_PER_S,
        "query_target_p95_ms": QUERY_TARGET_P95_MS,
    }
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns) as bar, multiprocessing.Pool() as pool:
        month_ago, backfill_n = now - timedelta(days=DAYS), args.spans - args.live - args.gzip_spans
        backfill, backfill_truth = make_traffic(orgs, args.seed, backfill_n, month_ago, live_from, pool, bar)
        live, live_truth = make_traffic(orgs, args.seed + 1, args.live, live_from, now, pool, bar)
        plain, gzip_truth = make_traffic(orgs, args.seed + 2, args.gzip_spans, live_from, now, pool, bar)
        zipped = [(gzip.compress(body, 6), n) for body, n in plain]
    truth = Truth()
    for part in (backfill_truth, live_truth, gzip_truth):
        truth.merge(part)
    print("parsing the live exports here, on one core ...", flush=True)
    results["parse_only_spans_per_s"] = parse_only(live, gzipped=False)
    results["parse_only_gzip_spans_per_s"] = parse_only(zipped, gzipped=True)
    results["before_the_store_spans_per_s"], _ = await ingest_without_store(live, keep=False)
    results["gzip_ratio"] = sum(len(b) for b, _ in zipped) / sum(len(b) for b, _ in plain)

    def sent(what: Truth) -> dict[str, int]:
        return {scope: len(what.spans.get(scope, [])) for scope in [*orgs, rollups.NETWORK]}

    months = sorted({rollups.period(int(t.timestamp()), "d") for t in (month_ago, now)})
    stack = Stack(
        data_dir=data,
        network_file=net_file,
        nats_port=free_port(),
        docstore_port=free_port(),
        service_ports={s.name: free_port() for s in SERVICES},
        # Rollups written every second, so the last flush is soon there; spans kept past the 30 days
        # they cover (the retention round runs at start and then hourly: it deletes nothing here).
        env={"RN_ROLLUP_FLUSH_SECONDS": str(FLUSH_SECONDS), "RN_SPAN_RETENTION_DAYS": str(DAYS + 1)},
    )
    try:
        stack.start_nats()
        stack.start_docstore()
        await stack.provision()
        stack.start_services(["insights"])
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.database_url)
        db = mongo["rn_insights"]
        with Progress(*columns) as bar:

            async def phase(name: str, exports: list[Export], gzipped: bool) -> dict[str, Any]:
                posted = await post_exports(stack, exports, args.exporters, gzipped, bar, name)
                rate = posted.spans / posted.seconds
                print(f"{name}: {posted.spans:,} spans in {posted.seconds:.1f} s, {rate:,.0f}/s", flush=True)
                return posted.summary()

            results["backfill"] = await phase("backfill, 30 days", backfill, False)
            # Its last rollups are written before the live phases, which are timed on their own.
            _, results["backfill"]["rolled_up_after_s"] = await until_rolled_up(
                stack, db, sent(backfill_truth), months
            )
            if PROFILE_DIR:  # RN_BENCH_PROFILE=<dir>: py-spy's stacks of insights in the live phase
                py_spy(
                    stack,
                    "insights",
                    len(live) * SPANS_PER_EXPORT / results["backfill"]["spans_per_s"],
                    "live",
                )
            results["live"] = await phase("live ingest, protobuf", live, False)
            results["live_gzip"] = await phase("live ingest, gzip", zipped, True)
            counted, lag = await until_rolled_up(stack, db, sent(truth), months)
            results["rolled_up"] = {"after_last_export_s": lag, "expected": sent(truth), "counted": counted}
            results["insights_rss_mb_after_ingest"] = rss_mb(stack.procs["insights"].pid)
            sample = live[: max(1, args.store_sample // SPANS_PER_EXPORT)]
            print(f"the store alone: {sum(n for _, n in sample):,} span documents, twice ...", flush=True)
            results["store_alone_spans_per_s"] = await store_alone(
                mongo, sample, args.exporters, indexes=True
            )
            results["store_alone_bare_spans_per_s"] = await store_alone(
                mongo, sample, args.exporters, indexes=False
            )
            results["span_documents"] = await db.spans.estimated_document_count()
            results["rollup_documents"] = await db.rollups.estimated_document_count()
            if PROFILE_DIR:  # and in the first minute of the queries
                py_spy(stack, "insights", 60, "queries")
            results["queries"], results["figures_wrong"] = await queries(
                stack, db, admins_of(stack, net), net, truth, args.reps, bar
            )
        await mongo.close()
        results["insights_rss_mb"] = rss_mb(stack.procs["insights"].pid)
    finally:
        stack.stop()
    results["log_dir"] = str(stack.log_dir)
    return results


def admins_of(stack: Stack, net: Network) -> list[Admin]:
    """The first (busiest) organization's admin, and a network admin of every region."""
    org, regions = net.organizations[0].id, [r.id for r in net.regions]
    key = stack.private_key
    return [
        Admin(
            "org admin",
            Principal("bench-org-admin", org, frozenset({Role.ORG_ADMIN})),
            mint_token(key, sub="bench-org-admin", org=org, roles=[Role.ORG_ADMIN]),
        ),
        Admin(
            "network admin",
            Principal("bench-net-admin", org, frozenset({Role.NETWORK_ADMIN}), frozenset(regions)),
            mint_token(key, sub="bench-net-admin", org=org, roles=[Role.NETWORK_ADMIN], regions=regions),
        ),
    ]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def met(ok: bool, miss: str) -> str:
    return "met" if ok else f"NOT met ({miss})"


def report(r: dict[str, Any]) -> str:
    parse, parse_gz, before = (
        r["parse_only_spans_per_s"],
        r["parse_only_gzip_spans_per_s"],
        r["before_the_store_spans_per_s"],
    )
    lines = [
        f"insights ingest: {r['spans']:,} spans over {DAYS} days, {r['organizations']} organizations,"
        f" {r['exporters']} exporters side by side, {r['spans_per_export']} spans per export,"
        f" {r['cores']} cores",
        "",
        f"{'':<52}{'spans':>10}{'seconds':>9}{'spans/s':>9}{'of parse':>10}",
    ]
    for key, label, raw in (
        ("backfill", "backfill: 30 days in time order, protobuf", parse),
        ("live", "live: protobuf", parse),
        ("live_gzip", f"live: gzip ({r['gzip_ratio']:.0%} of the bytes)", parse_gz),
    ):
        p = r[key]
        lines.append(
            f"{label:<52}{p['spans']:>10,}{p['seconds']:>9.1f}{p['spans_per_s']:>9,.0f}"
            f"{p['spans_per_s'] / raw:>10.2%}"
        )
    lines += [
        f"{'ParseFromString alone, same bytes, one core':<52}{'':>19}{parse:>9,.0f}",
        f"{'gunzip + ParseFromString, same bytes, one core':<52}{'':>19}{parse_gz:>9,.0f}",
        f"{'+ service.ingest, no store (insights CPU)':<52}{'':>19}{before:>9,.0f}",
        f"{'the store alone: insert_many, same indexes':<52}{'':>19}{r['store_alone_spans_per_s']:>9,.0f}",
        f"{'the store alone: insert_many, no index but _id':<52}{'':>19}"
        f"{r['store_alone_bare_spans_per_s']:>9,.0f}",
        "",
    ]
    for key in ("live", "live_gzip"):
        p = r[key]
        used = p["cores_used_by_process"]
        # What the machine did besides the stack and this process: other work sharing the two cores.
        others = used["machine"] - sum(c for n, c in used.items() if n != "machine")
        cores = ", ".join(f"{n} {c:.2f}" for n, c in used.items() if n != "nats") + f", others {others:.2f}"
        lines.append(f"cores used ({key}): {cores}")
        us = ", ".join(
            f"{n} {c:.0f}"
            for n, c in p["cpu_us_per_span_by_process"].items()
            if n in {"insights", "docstore"}
        )
        lines.append(f"  CPU µs per span: {us}")
    lost = sum(r[k]["failed_spans"] + r[k]["rejected_spans"] for k in ("backfill", "live", "live_gzip"))
    statuses = {k: r[k]["statuses"] for k in ("backfill", "live", "live_gzip")}
    rolled = r["rolled_up"]
    missing = {
        s: n - rolled["counted"].get(s, 0)
        for s, n in rolled["expected"].items()
        if rolled["counted"].get(s, 0) != n
    }
    lines += [
        f"answers: {statuses}; spans refused or lost: {lost}",
        f"rolled up {rolled['after_last_export_s']:.1f} s after the last export;"
        " day rollups count every span: " + ("yes" if not missing else f"NO, missing by scope {missing}"),
        f"stored: {r['span_documents']:,} span documents, {r['rollup_documents']:,} rollup documents",
        f"ingest target ≥ {INGEST_TARGET_PER_S:,.0f} spans/s (live, protobuf): "
        + met(r["live"]["spans_per_s"] >= INGEST_TARGET_PER_S, f"{r['live']['spans_per_s']:,.0f} spans/s"),
        "  gzip: "
        + met(
            r["live_gzip"]["spans_per_s"] >= INGEST_TARGET_PER_S,
            f"{r['live_gzip']['spans_per_s']:,.0f} spans/s",
        ),
        "",
        "dashboard queries, one at a time (ms): GET /boards/<board> by the client; beside it, the same"
        f" rollup documents read with PyMongo's find_one by _id ({READ_CONCURRENCY} at a time, as insights"
        " reads them); then, once, in this process, insights' own store.read_rollups (the same reads,"
        " decoded) and boards.dashboard (the figures); n: timed requests",
        f"{'admin':<14}{'board':<14}{'window':<15}{'docs':>5}{'KB':>7}{'n':>4}{'p50':>8}{'p95':>8}{'max':>8}"
        f"{'raw p50':>9}{'raw p95':>9}{'read+dec':>9}{'figures':>8}",
    ]
    worst = 0.0
    for q in r["queries"]:
        o, raw = q["ours_ms"], q["raw_find_one_ms"]
        worst = max(worst, o["p95"])
        flag = "" if o["p95"] <= QUERY_TARGET_P95_MS else "  > target"
        lines.append(
            f"{q['admin']:<14}{q['board']:<14}{q['window']:<15}{q['documents_found']:>5}"
            f"{q['rollup_bytes'] / 1024:>7.0f}{o['count']:>4}{o['p50']:>8.1f}{o['p95']:>8.1f}{o['max']:>8.1f}"
            f"{raw['p50']:>9.1f}{raw['p95']:>9.1f}{q['here_read_rollups_ms']['p50']:>9.1f}"
            f"{q['here_figures_ms']['p50']:>8.1f}{flag}"
        )
    misses = [q for q in r["queries"] if q["ours_ms"]["p95"] > QUERY_TARGET_P95_MS]
    lines += [
        "",
        f"query target p95 ≤ {QUERY_TARGET_P95_MS:.0f} ms: "
        + met(not misses, f"{len(misses)} of {len(r['queries'])} over; worst p95 {worst:.1f} ms"),
        "figures of the 30-day boards against what was sent: "
        + ("all match" if not r["figures_wrong"] else f"{len(r['figures_wrong'])} WRONG"),
        *(f"  {w}" for w in r["figures_wrong"]),
        f"insights RSS: {r['insights_rss_mb_after_ingest']:.0f} MB after the ingest,"
        f" {r['insights_rss_mb']:.0f} MB after the queries; logs: {r['log_dir']}",
        f"run time: {r['run_seconds'] / 60:.1f} min",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, help="spans stored in all (default 1,000,000; --quick 100,000)")
    parser.add_argument(
        "--live", type=int, help="spans of the live protobuf phase (default 60,000; --quick 20,000)"
    )
    parser.add_argument(
        "--gzip-spans", type=int, help="spans of the live gzip phase (default 30,000; --quick 10,000)"
    )
    parser.add_argument(
        "--reps", type=int, help="timed requests per board, window and admin (default 20; --quick 5)"
    )
    parser.add_argument(
        "--store-sample", type=int, help="spans inserted by the store-alone baseline (default 30,000)"
    )
    parser.add_argument("--exporters", type=int, default=4)
    parser.add_argument("--orgs", type=int, default=6, choices=range(2, 11), metavar="2..10")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--quick", action="store_true", help="a short run: fewer spans and requests")
    args = parser.parse_args()
    quick = {"spans": 100_000, "live": 20_000, "gzip_spans": 10_000, "reps": 5, "store_sample": 10_000}
    full = {"spans": 1_000_000, "live": 60_000, "gzip_spans": 30_000, "reps": 20, "store_sample": 30_000}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.spans < args.live + args.gzip_spans + SPANS_PER_EXPORT:
        parser.error("--spans must leave some for the 30 days' backfill after --live and --gzip-spans")
    started = time.perf_counter()
    results = asyncio.run(run(args))
    results["run_seconds"] = time.perf_counter() - started
    out = Path(__file__).parent / "results" / "insights_ingest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(report(results))
    print(f"figures: {out}")


if __name__ == "__main__":
    main()
