"""Crisis latency: from an alert posted over HTTP to its escalation on a connected responder console.

    make bench-crisis     (or: .venv/bin/python bench/crisis_latency.py --seconds 30 --rates 50,200)

Starts nats-server, the document store, and the crisis, notifications and insights services (each its
own process, as in `make run`) on free ports, then for each rate:
  - posts alerts at that rate (open loop: a slow answer does not slow the sender) for `--seconds`,
    each from a different member, and times each until its level-1 escalation arrives on one
    responder console (SSE), counting any that never arrive;
  - measures raw nats-py request/reply at the same rate on the same server, the baseline.
The timers are measured first, on the fresh stack: cases with a 3 s level, the time from each
deadline to the level-2 escalation on the console; and again with the crisis service killed
(SIGKILL) right after the cases open and restarted before their deadlines.
"""

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.aio.msg import Msg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import lean_http
from deploy.local.stack import REPO, Stack, free_port
from deploy.local.topology import SERVICES
from shared.auth.devkeys import mint_token
from shared.auth.principal import Role

ORG = "harbor-house"
RESPONDER = "bench-responder"
TIMER_LEVEL_MINUTES = 0.05  # 3 s
SERVICES_UNDER_TEST = ["crisis", "notifications", "insights"]


def pct(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Console:
    """One responder console: records when each (case, level) escalation arrives; resumes after breaks."""

    url: str
    token: str
    arrivals: dict[tuple[str, int], float] = field(default_factory=dict)  # (case id, level) -> wall time
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    reconnects: int = 0

    async def run(self) -> None:
        last_id: str | None = None
        async with httpx.AsyncClient(timeout=None) as client:
            while True:
                headers = {"Authorization": f"Bearer {self.token}"}
                if last_id:
                    headers["Last-Event-ID"] = last_id
                try:
                    async with client.stream(
                        "GET", f"{self.url}/crisis/console/events", headers=headers
                    ) as r:
                        r.raise_for_status()
                        self.connected.set()
                        async for frame_id, body in frames(r):
                            last_id = frame_id
                            if body["type"] == "crisis.escalated.v1":
                                key = (body["data"]["case_id"], body["data"]["level"])
                                self.arrivals.setdefault(key, time.time())
                except (httpx.HTTPError, OSError):
                    pass
                self.connected.clear()
                self.reconnects += 1
                await asyncio.sleep(0.2)


async def frames(response: httpx.Response) -> AsyncIterator[tuple[str, dict]]:  # type: ignore[type-arg]
    frame_id, data = "", ""
    async for line in response.aiter_lines():
        if line.startswith("id:"):
            frame_id = line[3:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
        elif not line and data:
            yield frame_id, json.loads(data)
            data = ""


async def settle(done: Callable[[], bool], seconds: float) -> None:
    """Wait until `done()` or `seconds` pass; whatever has not arrived by then counts as lost."""
    for _ in range(max(int(seconds / 0.05), 1)):
        if done():
            return
        await asyncio.sleep(0.05)


async def open_loop(rate: float, seconds: float, send: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    start, n = time.perf_counter(), int(rate * seconds)
    tasks: list[asyncio.Task[None]] = []
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i)))
    await asyncio.gather(*tasks)


async def alerts_at(
    rate: float, seconds: float, url: str, tokens: list[str], console: Console
) -> dict[str, float]:
    sent: dict[str, float] = {}
    answered: list[float] = []  # ms from sending to the HTTP answer
    errors = 0
    address = httpx.URL(url)
    client = lean_http.Client(address.host, address.port or 80)

    async def post(i: int) -> None:
        nonlocal errors
        t0 = time.time()
        try:
            status, body = await client.post_json(
                "/crisis/alerts", {"severity": "high"}, {"Authorization": f"Bearer {tokens[i]}"}
            )
        except lean_http.HttpError as exc:
            print(f"  alert {i} failed: {exc}", flush=True)
            errors += 1
            return
        answered.append((time.time() - t0) * 1000)
        if status == 201:
            sent[body["id"]] = t0
        else:
            errors += 1

    await open_loop(rate, seconds, post)
    client.close()
    await settle(lambda: all((case, 1) in console.arrivals for case in sent), seconds=10)
    latencies = [
        (console.arrivals[(c, 1)] - t0) * 1000 for c, t0 in sent.items() if (c, 1) in console.arrivals
    ]
    return {
        "alerts": int(rate * seconds),
        "http_errors": errors,
        "lost": len(sent) - len(latencies),
        "p50_ms": pct(latencies, 50),
        "p99_ms": pct(latencies, 99),
        "max_ms": max(latencies, default=float("nan")),
        "http_p50_ms": pct(answered, 50),
        "http_p99_ms": pct(answered, 99),
    }


async def request_reply_at(rate: float, seconds: float, nats_url: str, password: str) -> dict[str, float]:
    responder = await nats.connect(nats_url, user="admin", password=password)
    requester = await nats.connect(nats_url, user="admin", password=password)

    async def echo(msg: Msg) -> None:
        await msg.respond(msg.data)

    await responder.subscribe("bench.crisis.echo", cb=echo)
    await responder.flush()  # the subscription is known to the server before the first request
    rtts: list[float] = []
    errors = 0

    async def request(_: int) -> None:
        nonlocal errors
        t0 = time.perf_counter()
        try:
            await requester.request("bench.crisis.echo", b"x" * 400, timeout=5)
        except nats.errors.Error as exc:  # seen once on an overloaded machine: "no responders"
            print(f"  request failed: {exc!r}", flush=True)
            errors += 1
            return
        rtts.append((time.perf_counter() - t0) * 1000)

    await open_loop(rate, seconds, request)
    await requester.close()
    await responder.close()
    return {"p50_ms": pct(rtts, 50), "p99_ms": pct(rtts, 99), "errors": errors}


async def timer_lateness(
    stack: Stack, client: httpx.AsyncClient, url: str, tokens: list[str], console: Console, *, kill: bool
) -> dict[str, float]:
    """Cases whose level 1 lasts 3 s: how late does level 2 reach the console after each deadline?

    With `kill`, a deadline that passed while the service was down cannot fire before it is back,
    so lateness is also given from the later of the deadline and the moment it answered again.
    """
    deadlines: dict[str, float] = {}
    killed = back = 0.0
    for token in tokens:
        r = await client.post(f"{url}/crisis/alerts", json={}, headers={"Authorization": f"Bearer {token}"})
        body = r.raise_for_status().json()
        deadlines[body["id"]] = datetime.fromisoformat(body["deadline"]).timestamp()
    if kill:
        killed = time.time()
        stack.kill("crisis", signal.SIGKILL)
        stack.start_service("crisis")  # returns once it answers /health again
        back = time.time()
        await asyncio.wait_for(console.connected.wait(), timeout=30)
    await settle(
        lambda: all((case, 2) in console.arrivals for case in deadlines),
        seconds=max(deadlines.values()) + 15 - time.time(),
    )
    arrived = {c: (console.arrivals[(c, 2)], d) for c, d in deadlines.items() if (c, 2) in console.arrivals}
    late = [(at - d) * 1000 for at, d in arrived.values()]
    late_once_back = [(at - max(d, back)) * 1000 for at, d in arrived.values()]
    return {
        "down_ms": (back - killed) * 1000 if kill else 0.0,
        "cases": len(deadlines),
        "missed": len(deadlines) - len(arrived),
        "p50_ms": pct(late, 50),
        "p99_ms": pct(late, 99),
        "max_ms": max(late, default=float("nan")),
        "p50_once_back_ms": pct(late_once_back, 50),
        "p99_once_back_ms": pct(late_once_back, 99),
    }


async def set_first_level(client: httpx.AsyncClient, url: str, admin: dict[str, str], minutes: float) -> None:
    protocol = {
        "levels": [
            {"responder_ids": [RESPONDER], "timeout_minutes": minutes},
            {"responder_ids": [RESPONDER], "timeout_minutes": 60},
        ],
        "start_levels": {},
    }
    (await client.put(f"{url}/crisis/protocol", json=protocol, headers=admin)).raise_for_status()


async def run(rates: list[float], seconds: float, timer_cases: int) -> dict[str, object]:
    data = Path(tempfile.mkdtemp(prefix="rn-bench-crisis-"))
    stack = Stack(
        data_dir=data,
        network_file=REPO / "deploy" / "local" / "network.json",
        nats_port=free_port(),
        docstore_port=free_port(),
        service_ports={s.name: free_port() for s in SERVICES},
    )
    results: dict[str, object] = {"seconds_per_rate": seconds}
    try:
        stack.start_nats()
        stack.start_docstore()
        await stack.provision()
        stack.start_services(SERVICES_UNDER_TEST)
        url = stack.url("crisis")
        key = stack.private_key
        admin = {
            "Authorization": f"Bearer {mint_token(key, sub='bench-admin', org=ORG, roles=[Role.ORG_ADMIN])}"
        }
        total = int(sum(rates) * seconds) + 2 * timer_cases
        print(f"minting {total} member tokens ...", flush=True)
        members = [mint_token(key, sub=f"bench-m{i}", org=ORG, roles=[Role.MEMBER]) for i in range(total)]
        # Idle connections expire before uvicorn closes them (5 s), so none is reused half-closed.
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200, keepalive_expiry=2)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            for person, roles in ((RESPONDER, ["responder"]), ("bench-coord", ["coordinator"])):
                r = await client.put(f"{url}/crisis/staff/{person}", json={"roles": roles}, headers=admin)
                r.raise_for_status()
            console = Console(url, mint_token(key, sub=RESPONDER, org=ORG, roles=[Role.RESPONDER]))
            console_task = asyncio.create_task(console.run())
            await asyncio.wait_for(console.connected.wait(), timeout=10)

            print(f"timers: {timer_cases} cases, then {timer_cases} more across a kill -9 ...", flush=True)
            await set_first_level(client, url, admin, minutes=TIMER_LEVEL_MINUTES)
            results["timers"] = await timer_lateness(
                stack, client, url, members[:timer_cases], console, kill=False
            )
            results["timers_after_kill"] = await timer_lateness(
                stack, client, url, members[timer_cases : 2 * timer_cases], console, kill=True
            )
            used = 2 * timer_cases
            await set_first_level(client, url, admin, minutes=60)  # no timer fires during the load
            for rate in rates:
                print(f"alerts at {rate:g}/s for {seconds:g} s ...", flush=True)
                n = int(rate * seconds)
                batch = members[used : used + n]
                results[f"alerts_{rate:g}"] = await alerts_at(rate, seconds, url, batch, console)
                used += n
                print(f"raw nats-py request/reply at {rate:g}/s for {seconds:g} s ...", flush=True)
                results[f"baseline_{rate:g}"] = await request_reply_at(
                    rate, seconds, stack.nats_url, stack.passwords["admin"]
                )
            console_task.cancel()
    finally:
        stack.stop()
    return results


def report(r: dict[str, dict[str, float]], rates: list[float]) -> str:
    lines = [
        f"{'alerts over HTTP → console':<30}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'lost':>6}{'errors':>7}"
    ]
    for rate in rates:
        a, b = r[f"alerts_{rate:g}"], r[f"baseline_{rate:g}"]
        lines.append(
            f"{f'  at {rate:g}/s':<30}{a['p50_ms']:>9.2f}{a['p99_ms']:>9.2f}{a['max_ms']:>9.2f}"
            f"{a['lost']:>6.0f}{a['http_errors']:>7.0f}"
        )
        lines.append(f"{'    of which the HTTP answer':<30}{a['http_p50_ms']:>9.2f}{a['http_p99_ms']:>9.2f}")
        lines.append(f"{f'  raw request/reply at {rate:g}/s':<30}{b['p50_ms']:>9.2f}{b['p99_ms']:>9.2f}")
        lines.append(
            f"{'  ratio to baseline':<30}{a['p50_ms'] / b['p50_ms']:>9.1f}{a['p99_ms'] / b['p99_ms']:>9.1f}"
        )
    lines.append(f"{'timer lateness (deadline → console)':<30}")
    for name in ("timers", "timers_after_kill"):
        t = r[name]
        label = "  steady" if name == "timers" else "  across a kill -9"
        lines.append(
            f"{label:<30}{t['p50_ms']:>9.2f}{t['p99_ms']:>9.2f}{t['max_ms']:>9.2f}{t['missed']:>6.0f}"
        )
    t = r["timers_after_kill"]
    lines.append(
        f"{'    from answering again':<30}{t['p50_once_back_ms']:>9.2f}{t['p99_once_back_ms']:>9.2f}"
        f"   (down {t['down_ms'] / 1000:.1f} s)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="50,200", help="alerts per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--timer-cases", type=int, default=50)
    args = parser.parse_args()
    rates = [float(x) for x in args.rates.split(",")]
    results = asyncio.run(run(rates, args.seconds, args.timer_cases))
    print(report(results, rates))  # type: ignore[arg-type]
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "crisis_latency.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
