"""Notifications: fan-out throughput, from CrisisEscalated events to in-app deliveries and emails.

    make bench-notifications     (or: .venv/bin/python bench/notifications_fanout.py --fanout 50 --seconds 15)

Starts nats-server, the document store, Mailpit and the notifications service (each its own process,
as in `make run`) on free ports. Insights is not started: a stand-in OTLP endpoint in this process
accepts the service's spans, so their export costs the service what it costs in the network. Then:
  - in-app: events of `--fanout` responders each, who set no contacts (the inbox is their only
    channel), all published at once to JetStream as the admin user. Timed from the first publish
    until every notification is stored and its NotificationDelivered is on the NOTIFICATIONS stream
    (the service publishes it after the insert); the stored notifications are counted after.
    A warm-up sizes the phase to last about `--seconds`.
  - baseline, same server, right after: a raw nats-py pull consumer + ack over as many messages (the
    NotificationDelivered events just published, validated as bench/baseline.py does), and raw
    publish + ack of as many (bench/baseline.py's events, 256 in flight).
  - email: the same with responders who have an email address (documents in the service's `people`
    collection): every message is an inbox item and an email over SMTP, each claimed once in
    `deliveries`; timed until Mailpit holds every email (its API's message total).
The CPU time of every process comes from /proc. RN_BENCH_PROFILE=<dir> records the notifications
process with py-spy during each phase (collapsed stacks in <dir>/notifications-{in-app,email}.txt).
Every figure is written to bench/results/notifications_fanout.json.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baseline import event as baseline_event
from bench.baseline import in_windows
from bench.crisis_latency import cpu_seconds
from contracts.crisis import CrisisEscalated, CrisisEscalatedData
from contracts.notifications import NotificationDelivered
from deploy.local.stack import REPO, Stack, free_port
from deploy.local.topology import SERVICES
from services.notifications.model import Person
from services.notifications.store import person_key, person_to_doc

ORG = "harbor-house"
STREAM = "NOTIFICATIONS"
DELIVERED = NotificationDelivered.subject_pattern().replace("*", ORG)
TARGET_PER_S = 2000.0  # issue 10: in-app deliveries per second on 2 cores
WARMUP_EVENTS, WARMUP_EMAIL_EVENTS = 10, 2
STALL_SECONDS = 60.0  # no progress for this long: what has not arrived counts as lost
PROFILE_DIR = os.environ.get("RN_BENCH_PROFILE")


class OtlpSink:
    """Answers every OTLP/HTTP export with 200 and an empty ExportTraceServiceResponse (valid protobuf)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests = self.bytes = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/traces"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                self.requests += 1
                self.bytes += length
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):  # the exporter keeps its connection open
            writer.close()
        await asyncio.sleep(0.1)  # each connection's task sees its end and returns


@dataclass
class Phase:
    """One timed phase: how many arrived, from the first publish to the last arrival."""

    events: int
    expected: int
    arrived: int
    seconds: float
    cpu_s: dict[str, float]  # per process, plus "bench" (this one) and "machine" (all, every core)

    @property
    def per_s(self) -> float:
        return self.arrived / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "expected": self.expected,
            "arrived": self.arrived,
            "lost": self.expected - self.arrived,
            "seconds": self.seconds,
            "per_s": self.per_s,
            "cpu_s_by_process": self.cpu_s,
            "cpu_ms_per_item_by_process": {n: s * 1000 / max(self.arrived, 1) for n, s in self.cpu_s.items()},
            "cores_used_by_process": {n: s / self.seconds for n, s in self.cpu_s.items()},
        }


def machine_busy_seconds() -> float:
    """CPU time spent by every process of the machine so far, summed over cores (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def processes_seconds(stack: Stack) -> dict[str, float]:
    """The stack's processes (/proc), this one (publishing and polling), and the whole machine."""
    return {**cpu_seconds(stack), "bench": time.process_time(), "machine": machine_busy_seconds()}


def escalation(responders: list[str]) -> CrisisEscalated:
    case = str(uuid.uuid4())
    data = CrisisEscalatedData(case_id=case, level=1, severity="high", responder_ids=responders)
    return CrisisEscalated.create(source="crisis", org=ORG, subject=case, data=data)


async def publish(js: JetStreamContext, events: list[CrisisEscalated]) -> None:
    """As the crisis service does: acknowledged, with the event id as Nats-Msg-Id."""
    payloads = [(e.nats_subject(), e.model_dump_json().encode(), e.id) for e in events]
    await in_windows(
        len(payloads),
        lambda i: js.publish(
            payloads[i][0],
            payloads[i][1],
            headers={"Nats-Msg-Id": payloads[i][2], "content-type": "application/json"},
        ),
    )


async def until(count: Callable[[], Awaitable[int]], target: int, interval: float) -> tuple[int, float]:
    """Poll `count()` until it reaches `target`; returns the last count and when it was seen
    (perf_counter). Gives up once it has not moved for STALL_SECONDS."""
    last, moved = -1, time.perf_counter()
    while True:
        seen, at = await count(), time.perf_counter()
        if seen >= target:
            return seen, at
        if seen != last:
            last, moved = seen, at
        elif at - moved > STALL_SECONDS:
            print(f"  stalled at {seen} of {target}", flush=True)
            return seen, moved
        await asyncio.sleep(interval)


def py_spy(stack: Stack, name: str, seconds: float, label: str) -> subprocess.Popen[bytes]:
    assert PROFILE_DIR is not None
    Path(PROFILE_DIR).mkdir(parents=True, exist_ok=True)
    out = Path(PROFILE_DIR) / f"{name}-{label}.txt"
    spy = str(Path(sys.executable).parent / "py-spy")
    argv = [spy, "record", "--format", "raw", "-r", "50", "-d", str(max(int(seconds), 1)), "-o", str(out)]
    return subprocess.Popen([*argv, "-p", str(stack.procs[name].pid)], stdout=subprocess.DEVNULL)


async def fan_out(
    stack: Stack,
    js: JetStreamContext,
    events: int,
    responders: list[str],
    count: Callable[[], Awaitable[int]],
    interval: float,
    profile_label: str | None = None,
    profile_seconds: float = 0.0,
) -> Phase:
    """Publish `events` escalations to `responders` and time until `count()` has grown by one per
    (event, responder)."""
    batch = [escalation(responders) for _ in range(events)]
    expected = events * len(responders)
    start_count = await count()

    async def grown() -> int:
        return await count() - start_count

    profiler = (
        py_spy(stack, "notifications", profile_seconds, profile_label)
        if PROFILE_DIR and profile_label
        else None
    )
    before, t0 = processes_seconds(stack), time.perf_counter()
    await publish(js, batch)
    arrived, last = await until(grown, expected, interval)
    after = processes_seconds(stack)
    if profiler is not None:
        profiler.wait()
    return Phase(
        events=events,
        expected=expected,
        arrived=arrived,
        seconds=last - t0,
        cpu_s={n: after[n] - before[n] for n in after},
    )


def sized(rate: float, seconds: float, fanout: int, least: int, most: int) -> int:
    return max(least, min(most, round(rate * seconds / fanout)))


async def raw_pull_ack(js: JetStreamContext, messages: int) -> float:
    """bench/baseline.py's raw consumer over the NotificationDelivered events the service published."""
    durable = "bench-raw-delivered"
    await js.add_consumer(
        STREAM,
        ConsumerConfig(
            durable_name=durable,
            filter_subject=DELIVERED,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=10_000,
        ),
    )
    psub = await js.pull_subscribe(DELIVERED, durable=durable, stream=STREAM)
    start, seen = time.perf_counter(), 0
    while seen < messages:
        for m in await psub.fetch(batch=min(256, messages - seen), timeout=5):
            NotificationDelivered.model_validate_json(m.data)
            await m.ack()
            seen += 1
    rate = messages / (time.perf_counter() - start)
    await psub.unsubscribe()
    await js.delete_consumer(STREAM, durable)
    return rate


async def raw_publish_ack(js: JetStreamContext, messages: int) -> float:
    payloads = [baseline_event(i, "bench-raw") for i in range(messages)]
    return await in_windows(
        messages,
        lambda i: js.publish(
            payloads[i].nats_subject(),
            payloads[i].model_dump_json().encode(),
            headers={"Nats-Msg-Id": payloads[i].id},
        ),
    )


async def run(
    fanout: int, seconds: float, events: int | None, email_events: int | None, replicas: int = 1
) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="rn-bench-notifications-"))
    sink = OtlpSink()
    await sink.start()
    stack = Stack(
        data_dir=data,
        network_file=REPO / "deploy" / "local" / "network.json",
        nats_port=free_port(),
        docstore_port=free_port(),
        mailpit_smtp_port=free_port(),
        mailpit_http_port=free_port(),
        sms_port=free_port(),
        service_ports={s.name: free_port() for s in SERVICES},
        env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sink.url},
    )
    results: dict[str, Any] = {
        "fanout": fanout, "target_per_s": TARGET_PER_S, "cores": os.cpu_count(), "replicas": replicas
    }  # fmt: skip
    try:
        stack.start_nats()
        stack.start_docstore()
        stack.start_mailpit()
        await stack.provision()
        stack.start_services(["notifications"])
        for _ in range(replicas - 1):  # JetStream shares the consumer's messages out between them
            stack.start_replica("notifications", free_port())
        nc = await nats.connect(stack.nats_url, user="admin", password=stack.passwords["admin"])
        js = nc.jetstream()
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.database_url)
        db = mongo["rn_notifications"]
        http = httpx.AsyncClient(timeout=10)

        async def on_stream() -> int:
            return (await js.stream_info(STREAM)).state.messages

        async def in_mailpit() -> int:
            r = await http.get(f"{stack.mailpit_url}/api/v1/messages", params={"limit": "1"})
            return int(r.raise_for_status().json()["total"])

        # ---- in-app: responders without contacts ----
        inbox_only = [f"bench-inbox-{j}" for j in range(fanout)]
        print(f"in-app warm-up: {WARMUP_EVENTS} events x {fanout} responders ...", flush=True)
        warm = await fan_out(stack, js, WARMUP_EVENTS, inbox_only, on_stream, 0.05)
        results["in_app_warmup"] = warm.summary()
        n = events or sized(warm.per_s, seconds, fanout, least=20, most=4000)
        print(
            f"  {warm.per_s:,.0f}/s; in-app: {n} events x {fanout} = {n * fanout} deliveries ...", flush=True
        )
        in_app = await fan_out(
            stack, js, n, inbox_only, on_stream, 0.05, "in-app", n * fanout / max(warm.per_s, 1.0) + 5
        )
        results["in_app"] = in_app.summary()
        results["in_app"]["stored_notifications"] = stored = await db.notifications.count_documents({})
        results["in_app"]["stored_expected"] = (WARMUP_EVENTS + n) * fanout
        print(
            f"  {in_app.arrived} of {in_app.expected} in {in_app.seconds:.2f} s: {in_app.per_s:,.0f}/s;"
            f" {stored} notifications stored",
            flush=True,
        )

        # ---- baseline: raw nats-py on the same server, as many messages ----
        m = in_app.arrived
        print(f"raw nats-py pull + ack of {m} messages, then publish + ack of {m} ...", flush=True)
        results["raw_pull_ack_msgs_per_s"] = await raw_pull_ack(js, m)
        results["raw_publish_ack_msgs_per_s"] = await raw_publish_ack(js, m)
        results["baseline_messages"] = m

        # ---- email: responders with an address ----
        with_email = [f"bench-email-{j}" for j in range(fanout)]
        await db.people.insert_many(
            [
                {
                    "_id": person_key(ORG, p),
                    "org": ORG,
                    "person_id": p,
                    "confirmed": True,
                    **person_to_doc(Person(id=p, org=ORG, email=f"{p}@bench.example")),
                }
                for p in with_email
            ]
        )
        print(f"email warm-up: {WARMUP_EMAIL_EVENTS} events x {fanout} responders ...", flush=True)
        warm_mail = await fan_out(stack, js, WARMUP_EMAIL_EVENTS, with_email, in_mailpit, 0.1)
        results["email_warmup"] = warm_mail.summary()
        k = email_events or sized(warm_mail.per_s, seconds, fanout, least=2, most=1000)
        print(
            f"  {warm_mail.per_s:,.0f}/s; email: {k} events x {fanout} = {k * fanout} emails ...", flush=True
        )
        stream_before = await on_stream()
        email = await fan_out(
            stack, js, k, with_email, in_mailpit, 0.1, "email", k * fanout / max(warm_mail.per_s, 1.0) + 5
        )
        results["email"] = email.summary()
        results["email"]["in_app_announced"] = (
            await on_stream() - stream_before - email.arrived
        )  # the rest are the emails' own NotificationDelivered
        results["email"]["delivered_deliveries"] = await db.deliveries.count_documents({"state": "delivered"})
        print(
            f"  {email.arrived} of {email.expected} in {email.seconds:.2f} s: {email.per_s:,.0f}/s",
            flush=True,
        )
        results["otlp_exports"] = {"requests": sink.requests, "bytes": sink.bytes}
        await http.aclose()
        await mongo.close()
        await nc.close()
    finally:
        stack.stop()
        await sink.stop()
    results["log_dir"] = str(stack.log_dir)
    return results


def report(r: dict[str, Any]) -> str:
    a, e = r["in_app"], r["email"]
    pull, pub = r["raw_pull_ack_msgs_per_s"], r["raw_publish_ack_msgs_per_s"]
    lines = [
        f"notifications fan-out: {r['fanout']} responders per CrisisEscalated, {r['cores']} cores,"
        f" {r['replicas']} notifications process(es)",
        "",
        f"{'measure':<44}{'count':>8}{'seconds':>9}{'per s':>10}{'/ pull+ack':>12}{'/ pub+ack':>11}",
        f"{'in-app deliveries (stored + announced)':<44}{a['arrived']:>8}{a['seconds']:>9.2f}"
        f"{a['per_s']:>10,.0f}{a['per_s'] / pull:>12.3f}{a['per_s'] / pub:>11.3f}",
        f"{'raw nats-py JetStream pull + ack':<44}{r['baseline_messages']:>8}"
        f"{r['baseline_messages'] / pull:>9.2f}{pull:>10,.0f}",
        f"{'raw nats-py JetStream publish + ack':<44}{r['baseline_messages']:>8}"
        f"{r['baseline_messages'] / pub:>9.2f}{pub:>10,.0f}",
        f"{'emails received by Mailpit (+ in-app each)':<44}{e['arrived']:>8}{e['seconds']:>9.2f}"
        f"{e['per_s']:>10,.1f}{e['per_s'] / pull:>12.4f}{e['per_s'] / pub:>11.4f}",
        "",
        f"target ≥ {r['target_per_s']:,.0f} in-app deliveries/s: "
        + (
            "met"
            if a["per_s"] >= r["target_per_s"]
            else f"NOT met ({a['per_s'] / r['target_per_s']:.0%} of it)"
        ),
        f"lost: in-app {a['lost']}, email {e['lost']}; notifications stored {a['stored_notifications']}"
        f" of {a['stored_expected']}",
    ]
    lines += [
        "",
        f"{'CPU (from /proc)':<44}{'in-app: cores':>14}{'ms/delivery':>12}"
        f"{'email: cores':>14}{'ms/email':>10}",
    ]
    for p in a["cores_used_by_process"]:
        label = {"bench": "bench (publisher, polling, OTLP sink)", "machine": "whole machine (every process)"}
        lines.append(
            f"{'  ' + label.get(p, p):<44}{a['cores_used_by_process'][p]:>14.2f}"
            f"{a['cpu_ms_per_item_by_process'][p]:>12.2f}{e['cores_used_by_process'][p]:>14.2f}"
            f"{e['cpu_ms_per_item_by_process'][p]:>10.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fanout", type=int, default=50, help="responders per escalation")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long each phase should last")
    parser.add_argument("--events", type=int, help="in-app events (default: sized by a warm-up)")
    parser.add_argument("--email-events", type=int, help="email events (default: sized by a warm-up)")
    parser.add_argument("--replicas", type=int, default=1, help="notifications processes (queue consumers)")
    args = parser.parse_args()
    results = asyncio.run(run(args.fanout, args.seconds, args.events, args.email_events, args.replicas))
    print(report(results))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "notifications_fanout.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
