"""Baseline: raw nats-py against the project's own publisher and FastStream subscriber, same server, same run.

    make bench        (or: .venv/bin/python bench/baseline.py --messages 10000)

Starts one local nats-server (JetStream on, file storage) on a free port and prints, side by side:
  - request/reply round trip (raw nats-py; p50/p99)
  - publish + ack throughput (raw js.publish vs EventPublisher, both with Nats-Msg-Id, 256 in flight)
  - publish-to-handler latency (raw publish + raw pull consumer vs EventPublisher + our FastStream subscriber)
  - consume throughput (raw pull fetch+ack vs the FastStream subscriber with our middlewares)
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contracts.meetings import MeetingScheduled, MeetingScheduledData
from deploy.local.stack import Stack, free_port
from shared.messaging.broker import make_broker, subscribe
from shared.messaging.publisher import EventPublisher
from shared.messaging.streams import Subscription, provision

WINDOW = 256


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def event(i: int, org: str = "bench") -> MeetingScheduled:
    return MeetingScheduled.create(
        source="meetings",
        org=org,
        subject=f"m{i}",
        data=MeetingScheduledData(
            meeting_id=f"m{i}", slug=f"m{i}", name="Bench", timezone="UTC", attendance_option="in_person"
        ),
    )


async def in_windows(n: int, make: Callable[[int], Awaitable[object]]) -> float:
    start = time.perf_counter()
    for base in range(0, n, WINDOW):
        await asyncio.gather(*(make(i) for i in range(base, min(n, base + WINDOW))))
    return n / (time.perf_counter() - start)


async def run(messages: int, requests: int, latency_samples: int) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(prefix="rn-bench-"))
    stack = Stack(data_dir=data, network_file=Path("deploy/local/network.json"), nats_port=free_port())
    stack.start_nats()
    results: dict[str, float] = {}
    try:
        nc = await nats.connect(stack.nats_url, user="admin", password=stack.passwords["admin"])
        js = nc.jetstream()
        raw_sub = Subscription("benchraw", MeetingScheduled)
        await provision(js, [])

        # --- request/reply, raw ---
        async def echo(msg: Msg) -> None:
            await msg.respond(msg.data)

        await nc.subscribe("bench.echo", cb=echo)
        rtts = []
        for _ in range(requests):
            t0 = time.perf_counter()
            await nc.request("bench.echo", b"x" * 200, timeout=2)
            rtts.append((time.perf_counter() - t0) * 1000)
        results["raw_request_reply_p50_ms"] = pct(rtts, 50)
        results["raw_request_reply_p99_ms"] = pct(rtts, 99)

        # --- publish + ack throughput ---
        payloads = [event(i, "bench-raw") for i in range(messages)]
        results["raw_publish_ack_msgs_per_s"] = await in_windows(
            messages,
            lambda i: js.publish(
                payloads[i].nats_subject(),
                payloads[i].model_dump_json().encode(),
                headers={"Nats-Msg-Id": payloads[i].id},
            ),
        )
        broker: NatsBroker = make_broker(stack.settings("benchours", nats_user="admin"))
        publisher = EventPublisher(broker, [MeetingScheduled])
        await broker.start()
        ours = [event(i, "bench-ours") for i in range(messages)]
        results["ours_publish_ack_msgs_per_s"] = await in_windows(
            messages, lambda i: publisher.publish(ours[i])
        )

        # --- consume throughput: drain `messages` events already in the stream ---
        await js.add_consumer(
            "MEETINGS",
            ConsumerConfig(
                durable_name=raw_sub.durable,
                filter_subject="rn.bench-raw.meetings.scheduled.v2",
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                max_ack_pending=10_000,
            ),
        )
        psub = await js.pull_subscribe(
            "rn.bench-raw.meetings.scheduled.v2", durable=raw_sub.durable, stream="MEETINGS"
        )
        start, seen = time.perf_counter(), 0
        while seen < messages:
            for m in await psub.fetch(batch=256, timeout=5):
                MeetingScheduled.model_validate_json(m.data)
                await m.ack()
                seen += 1
        results["raw_consume_msgs_per_s"] = messages / (time.perf_counter() - start)

        done = asyncio.Event()
        handled = 0
        arrivals: dict[str, float] = {}
        waiters: dict[str, asyncio.Future[None]] = {}
        target = messages

        sub_broker = make_broker(stack.settings("benchours2", nats_user="admin"))
        ours_sub = Subscription("benchours2", MeetingScheduled)
        await provision(js, [ours_sub])

        @subscribe(sub_broker, ours_sub, batch_size=256)
        async def on_meeting_scheduled(e: MeetingScheduled) -> None:
            nonlocal handled
            arrivals[e.id] = time.perf_counter()
            handled += 1
            if handled >= target:
                done.set()
            if e.id in waiters:
                waiters.pop(e.id).set_result(None)

        start = time.perf_counter()
        await sub_broker.start()
        # Everything published so far on MEETINGS: raw + ours.
        target = 2 * messages
        await asyncio.wait_for(done.wait(), timeout=300)
        results["ours_consume_msgs_per_s"] = target / (time.perf_counter() - start)

        # --- publish-to-handler latency, one message at a time ---
        raw_lat = []
        for i in range(latency_samples):
            e = event(100_000 + i, "bench-raw")
            # The fetch waits before the publish, as a subscriber's long poll does.
            pending = asyncio.create_task(psub.fetch(batch=1, timeout=5))
            await asyncio.sleep(0.001)
            t0 = time.perf_counter()
            await js.publish(e.nats_subject(), e.model_dump_json().encode(), headers={"Nats-Msg-Id": e.id})
            (m,) = await pending
            MeetingScheduled.model_validate_json(m.data)
            await m.ack()
            raw_lat.append((time.perf_counter() - t0) * 1000)
        ours_lat = []
        for i in range(latency_samples):
            e = event(200_000 + i, "bench-ours")
            # Held here too: the handler may run (and drop it from `waiters`) before the publish's ack.
            handled_e = waiters[e.id] = asyncio.get_running_loop().create_future()
            t0 = time.perf_counter()
            await publisher.publish(e)
            await asyncio.wait_for(handled_e, timeout=10)
            ours_lat.append((arrivals[e.id] - t0) * 1000)
        results["raw_publish_to_handler_p50_ms"] = pct(raw_lat, 50)
        results["raw_publish_to_handler_p99_ms"] = pct(raw_lat, 99)
        results["ours_publish_to_handler_p50_ms"] = pct(ours_lat, 50)
        results["ours_publish_to_handler_p99_ms"] = pct(ours_lat, 99)
        results["ours_publish_to_handler_mean_ms"] = statistics.fmean(ours_lat)

        await sub_broker.stop()
        await broker.stop()
        await nc.close()
    finally:
        stack.stop()
    return results


def report(r: dict[str, float]) -> str:
    rows = [
        (
            "publish + ack throughput (msg/s)",
            r["raw_publish_ack_msgs_per_s"],
            r["ours_publish_ack_msgs_per_s"],
        ),
        ("consume throughput (msg/s)", r["raw_consume_msgs_per_s"], r["ours_consume_msgs_per_s"]),
        (
            "publish-to-handler p50 (ms)",
            r["raw_publish_to_handler_p50_ms"],
            r["ours_publish_to_handler_p50_ms"],
        ),
        (
            "publish-to-handler p99 (ms)",
            r["raw_publish_to_handler_p99_ms"],
            r["ours_publish_to_handler_p99_ms"],
        ),
    ]
    lines = [
        f"raw nats-py request/reply: p50 {r['raw_request_reply_p50_ms']:.3f} ms, "
        f"p99 {r['raw_request_reply_p99_ms']:.3f} ms",
        "",
        f"{'measure':<36}{'raw nats-py':>14}{'ours':>14}{'ours/raw':>10}",
    ]
    lines += [f"{name:<36}{raw:>14.2f}{ours:>14.2f}{ours / raw:>10.2f}" for name, raw, ours in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--latency-samples", type=int, default=500)
    args = parser.parse_args()
    results = asyncio.run(run(args.messages, args.requests, args.latency_samples))
    print(report(results))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "baseline.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
